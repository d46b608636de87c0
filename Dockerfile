# One multi-stage file, two images:
#   docker build --target bot    -t portrait-studio-bot .     (~100 MB of Python packages: no torch)
#   docker build --target worker -t portrait-studio-worker .  (torch + models' libraries)
# Models are never baked in or downloaded: mount them (FACE_DIR, SDXL_DIR, ... point there).
# Versions come from constraints.txt (`make constraints` regenerates it).

FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 DO_NOT_TRACK=1 ORT_DISABLE_TELEMETRY=1 \
    MODE=prod HEALTH_PORT=9100 HEALTH_LISTEN=0.0.0.0 LOG_FORMAT=json
RUN useradd --create-home --uid 10001 studio
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY bot ./bot
COPY studio ./studio
COPY jobs ./jobs
COPY pipeline ./pipeline
COPY emulator ./emulator
COPY portrait_studio ./portrait_studio
COPY worker.py ./

FROM base AS bot
RUN pip install -c constraints.txt '.[bot]'
USER studio
EXPOSE 8443 9100
HEALTHCHECK --interval=15s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:9100/healthz', timeout=2)" || exit 1
ENTRYPOINT ["portrait-studio"]
CMD ["bot", "--webhook"]

FROM base AS worker
# OpenCV and onnxruntime want these shared libraries; the CUDA runtime comes with torch's wheel.
RUN apt-get update && apt-get install -y --no-install-recommends libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*
# The CUDA build of torch for the render worker (TORCH_INDEX=cpu for a CPU-only intake image).
ARG TORCH_INDEX=cu128
RUN pip install -c constraints.txt --index-url https://download.pytorch.org/whl/${TORCH_INDEX} \
        --extra-index-url https://pypi.org/simple torch==2.13.0 \
    && pip install -c constraints.txt '.[worker]'
# Face analysis on the GPU: the CUDA image swaps onnxruntime (CPU only) for onnxruntime-gpu of the
# same pinned version (one `onnxruntime` module: never both). It runs on the CUDA and cuDNN
# libraries that torch's wheel brings; FACE_DEVICE=cpu keeps it on CPU (docs/MODEL_STACKS.md).
RUN if [ "${TORCH_INDEX}" != "cpu" ]; then \
        ORT_VERSION=$(sed -n 's/^onnxruntime==//p' constraints.txt) \
        && pip uninstall -y onnxruntime \
        && pip install --no-deps "onnxruntime-gpu==${ORT_VERSION}"; \
    fi
USER studio
EXPOSE 9100
HEALTHCHECK --interval=15s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:9100/healthz', timeout=2)" || exit 1
ENTRYPOINT ["portrait-studio", "worker"]
CMD ["render"]
