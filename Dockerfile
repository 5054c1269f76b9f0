# The pinet service on an NVIDIA GPU, with the bundled models of models/ inside:
#   docker compose up --build                     (docker-compose.yml: GPU, settings)
#   docker build -t pinet . && docker run --gpus all -p 8000:8000 pinet
# Settings are PINET_* environment variables (service/settings.py).

# PyTorch's own runtime image: torch 2.13.0 (pyproject's lower bound) built for CUDA 12.6
# and cuDNN 9, Python in /opt/conda. CUDA 12 runs on older host drivers than the 13.x images.
ARG BASE_IMAGE=pytorch/pytorch:2.13.0-cuda12.6-cudnn9-runtime

# Build the project's wheel in a throwaway stage, so no source tree is left in the image to
# shadow the installed packages.
FROM ${BASE_IMAGE} AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY pinet pinet
COPY data_prep data_prep
COPY service service
RUN pip wheel --no-deps --no-cache-dir --wheel-dir /wheels .

FROM ${BASE_IMAGE}
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# The base image's torch satisfies `torch>=2.13`, so pip keeps its CUDA build; the assert
# fails the build if a dependency ever pulls in another torch.
COPY --from=wheel /wheels /tmp/wheels
RUN pip install --no-cache-dir /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels \
    && python -c "import torch; assert torch.version.cuda, 'pip replaced the CUDA build of torch'"

# The bundled models, owned by root: the service only reads them.
WORKDIR /app
COPY models /app/models

# A numeric user, so that runtimes can check it is not root (Kubernetes' runAsNonRoot).
RUN useradd --no-log-init --create-home --uid 10001 --user-group pinet
USER 10001:10001

# The exact PIs' numba code compiles at start-up (tens of seconds) into this folder of the
# user's: docker-compose.yml keeps it in a volume, so that only the first start compiles.
ENV NUMBA_CACHE_DIR=/home/pinet/.cache/numba
RUN mkdir -p "$NUMBA_CACHE_DIR"

ENV PINET_HOST=0.0.0.0 \
    PINET_PORT=8000 \
    PINET_MODELS_DIR=/app/models
EXPOSE 8000

# Healthy once every model is loaded and warm (/readyz answers 200, 503 before); python, as
# the image has no curl. Loading, warming up and (on a first start) compiling the numba
# code take up to a minute: start-period leaves margin.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen('http://127.0.0.1:' + os.environ['PINET_PORT'] + '/readyz', timeout=4)"]

# One process: the models, their batchers and the GPU are shared by every request.
CMD ["python", "-m", "service"]
