#!/bin/sh
# Pulls the configured model into the shared Ollama volume, then exits.
# A model already present is only checked against the library, so restarts are cheap.
set -eu

model="${OLLAMA_MODEL:-llama3.2}"
echo "pulling ${model} through ${OLLAMA_HOST}"
ollama pull "${model}"
ollama show "${model}" > /dev/null
echo "${model} is ready"
