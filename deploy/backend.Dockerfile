# syntax=docker/dockerfile:1
# ChatKit backend: the core and the bundled plugins in a virtualenv on python:3.11-slim.
# The same image runs `chatkit index`, which builds the knowledge index (compose's index service).
# Build from the repository root:  docker build -f deploy/backend.Dockerfile -t chatkit-backend .

ARG PYTHON_IMAGE=python:3.11-slim
ARG NODE_IMAGE=node:22-slim

# The widget bundle: esbuild (from npm, at the version widget/package-lock.json pins) bundles
# widget/src/. The Python image has no Node.js, and with a fresh bundle its wheel build needs none.
FROM ${NODE_IMAGE} AS widget
WORKDIR /src/widget
COPY widget/package.json widget/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY widget/build.mjs ./
COPY widget/src/ src/
COPY chatkit_core/VERSION /src/chatkit_core/VERSION
RUN npm run build

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml setup.py uv.lock README.md ./
COPY chatkit_core/ chatkit_core/
# The core's wheel carries the widget bundle and the sample site as package data; setup.py
# finds the bundle newer than its sources and uses it as built.
COPY widget/ widget/
COPY --from=widget /src/widget/dist/ widget/dist/
COPY web/ web/
COPY plugins/ plugins/
# Wheels for ChatKit, its plugins and every dependency at the versions uv.lock pins (exported as
# constraints), then a venv without pip holding only those.
RUN pip install "uv==0.13.9" \
 && uv export --frozen --quiet --no-dev --all-packages --no-emit-workspace --no-hashes -o /tmp/constraints.txt \
 && pip wheel --constraint /tmp/constraints.txt --wheel-dir /wheels . \
        plugins/chatkit_ollama plugins/chatkit_openai plugins/chatkit_ratelimit plugins/chatkit_redis \
        plugins/chatkit_postgres plugins/chatkit_knowledge \
 && python -m venv --without-pip /opt/chatkit \
 && pip --python /opt/chatkit/bin/python install --no-index /wheels/*.whl

FROM ${PYTHON_IMAGE}
# Bytecode was compiled at install time; the root filesystem may be read-only at run time.
ENV PATH=/opt/chatkit/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CHATKIT_CONFIG=/etc/chatkit/chatkit.toml
# /var/lib/chatkit/knowledge is where compose mounts the knowledge volume; a new volume takes
# this directory's owner, so the unprivileged index service can write the index into it.
RUN groupadd --system --gid 10001 chatkit \
 && useradd --system --uid 10001 --gid chatkit --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin chatkit \
 && install -d -o chatkit -g chatkit /var/lib/chatkit/knowledge
COPY --from=builder /opt/chatkit /opt/chatkit
COPY deploy/chatkit.toml /etc/chatkit/chatkit.toml
WORKDIR /srv/chatkit
USER 10001:10001
EXPOSE 8000
# slim has no curl: the check uses the interpreter that is already there.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
CMD ["chatkit", "serve", "--host", "0.0.0.0", "--port", "8000"]
