# txwatch image: the exporter (default), the notification sink and the replay tool.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY txwatch/ txwatch/
COPY exporter/ exporter/
COPY replay/ replay/
COPY history/ history/
COPY backtest/ backtest/
COPY engines/ engines/
COPY stack/ stack/
COPY web/ web/
COPY rules/ rules/
COPY prometheus/ prometheus/
COPY alertmanager/ alertmanager/
COPY docs/ docs/
RUN pip install --no-cache-dir . && useradd --system --uid 10001 txwatch \
    && mkdir -p /data && chown txwatch /data
USER txwatch
EXPOSE 9466
HEALTHCHECK --interval=15s --timeout=3s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9466/-/healthy')"
ENTRYPOINT ["python", "-m", "txwatch.exporter"]
CMD ["--web.listen-address=0.0.0.0:9466", "--state.dir=/data"]
