# ftmon in a container: non-root, state on a volume, JSON logs on stdout, /healthz checked.
#
#   docker build -t ftmon .
#   docker run -d --name ftmon --stop-timeout 45 \
#     -v ftmon-state:/var/lib/ftmon \
#     -v "$PWD/ftmon.toml:/etc/ftmon/ftmon.toml:ro" \
#     -e TOGETHER_API_KEY -e SLACK_WEBHOOK_URL \
#     -p 127.0.0.1:9464:9464 ftmon
#
# The mounted config should say  listen = "0.0.0.0:9464"  (the HEALTHCHECK asks
# http://127.0.0.1:9464/healthz; set FTMON_HEALTHCHECK_URL if you choose another port).
# See docs/operations.md and deploy/sidecar/ for a complete example.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY . .
RUN pip install --prefix=/install .

FROM python:3.11-slim
COPY --from=build /install /usr/local
# The group is made first with the same number, so USER 10001:10001 names a real group.
RUN groupadd --system --gid 10001 ftmon \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /var/lib/ftmon --shell /usr/sbin/nologin ftmon \
    && install -d -o ftmon -g ftmon -m 0700 /var/lib/ftmon \
    && install -d -m 0755 /etc/ftmon
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FTMON_CONFIG=/etc/ftmon/ftmon.toml \
    STATE_DIRECTORY=/var/lib/ftmon \
    FTMON_HEALTHCHECK_URL=http://127.0.0.1:9464/healthz
VOLUME /var/lib/ftmon
WORKDIR /var/lib/ftmon
USER 10001:10001
EXPOSE 9464
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=10s --start-period=2m --retries=3 \
    CMD ["python", "-P", "-m", "monitor.app.web", "--check"]
ENTRYPOINT ["ftmon"]
CMD ["run"]
