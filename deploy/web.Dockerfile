# syntax=docker/dockerfile:1
# ChatKit edge: nginx serving the sample site and proxying the API, as an unprivileged user.
# Build from the repository root:  docker build -f deploy/web.Dockerfile -t chatkit-web .

ARG NGINX_IMAGE=nginxinc/nginx-unprivileged:1.27-alpine

# The site's files without the server's own configuration.
FROM busybox:1.36 AS site
COPY web/ /site/
RUN rm /site/nginx.conf

FROM ${NGINX_IMAGE}
COPY web/nginx.conf /etc/nginx/nginx.conf
COPY --from=site /site/ /usr/share/nginx/html/
USER 101:101
EXPOSE 8080
HEALTHCHECK --interval=15s --timeout=5s --start-period=5s --retries=3 \
    CMD ["wget", "--quiet", "--spider", "http://127.0.0.1:8080/"]
