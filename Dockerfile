# One image for every platform process; the command picks the process.
# Multi-stage: dependencies resolved from uv.lock in a builder, a slim non-root runtime.
FROM python:3.11-slim AS builder
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
COPY shared shared
COPY services services
COPY gateway gateway
COPY deploy/local/finance-sim deploy/local/finance-sim
COPY config config
COPY policies policies
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /app mianshen
WORKDIR /app
COPY --from=builder /app/.venv /app/.venv
COPY --from=builder /app/config /app/config
COPY --from=builder /app/policies /app/policies
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MIANSHEN_CITY_FILE=/app/config/cities/zhengzhou.yaml \
    MIANSHEN_STATE_DIR=/tmp/mianshen
USER 10001
ENTRYPOINT ["python", "-m", "mianshen_shared.serve"]
