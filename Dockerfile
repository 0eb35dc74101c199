# syntax=docker/dockerfile:1
# Build: docker build --build-arg EMBEDDING_MODEL=all-MiniLM-L6-v2 -t monitor .
FROM python:3.11-slim AS build
ARG TORCH_SPEC=torch==2.13.0
ENV PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# CPU PyTorch first, so that sentence-transformers does not pull the CUDA build.
RUN pip install --index-url https://download.pytorch.org/whl/cpu "$TORCH_SPEC"
COPY pyproject.toml README.md /src/
COPY monitor /src/monitor
COPY workers /src/workers
COPY web /src/web
COPY config /src/config
COPY cli /src/cli
RUN pip install /src

FROM python:3.11-slim
ARG EMBEDDING_MODEL=all-MiniLM-L6-v2
ENV PATH=/opt/venv/bin:$PATH \
    HF_HUB_OFFLINE=1 \
    EMBEDDING_MODEL=${EMBEDDING_MODEL} \
    PYTHONUNBUFFERED=1
COPY --from=build /opt/venv /opt/venv
RUN useradd --system --create-home --uid 10001 monitor
USER monitor
WORKDIR /home/monitor
EXPOSE 8000
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "web.wsgi:app"]
