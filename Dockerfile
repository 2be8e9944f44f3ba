# Casset Rights: the rights service, served by granian.
# Build: docker build -t casset-rights .
# Run:   docker run -p 8000:8000 -v casset-data:/data -e CASSET_DATABASE_URL=postgresql://... casset-rights
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CASSET_DATA_DIR=/data \
    CASSET_HOST=0.0.0.0 \
    CASSET_PORT=8000

WORKDIR /app
RUN useradd --create-home --uid 10001 casset && mkdir -p /data && chown casset /data

COPY pyproject.toml README.md ./
COPY casset_rights ./casset_rights
COPY schemas ./schemas
COPY policies ./policies
COPY examples ./examples
# Editable, so the schemas, policies and examples beside the package are found.
RUN pip install --upgrade pip && pip install -e .

USER casset
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8000/.well-known/casset-rights', timeout=2)" || exit 1
CMD ["casset-rights", "serve"]
