# A stand-in for the Dockerfile's Python base image, for an engine that reaches no image
# registry: Debian's Python in a virtual environment at /usr/local (so `python`, `pip`
# and the site-packages path are where the official image has them), trusting the host's
# locally added certificate authorities.
ARG DEBIAN
FROM ${DEBIAN}
COPY ca/ /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null && python3 -m venv /usr/local
ENV LANG=C.UTF-8
CMD ["python3"]
