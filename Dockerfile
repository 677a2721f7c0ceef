# backup-gate image: `docker build -t backup-gate:0.1.0 .`
#
# Two stages, each with one job:
#   build    compiles backup-gate on Debian 12 as CI does, with the packages of
#            scripts/deps.sh (packaging/build-packages.txt), and installs it
#            stripped into /out: bin/backup-gate and lib/backup-gate/, the
#            module of the s3, swift and azure_blob drivers, which the binary
#            loads (through its rpath, $ORIGIN/../lib/backup-gate) only when
#            a config names one of them;
#   runtime  Debian 12 slim with only the shared libraries the binary and the
#            module link (packaging/runtime-packages.txt), running as
#            65532:65532. The last stage, so the default target.
# scripts/rootfs-test.sh rebuilds the runtime stage in a debootstrap root from
# the same package list and runs the binary in it as the same user.
#
# At run time the root file system can be read-only (readOnlyRootFilesystem):
# backup-gate writes only into the posix backends' directories and the
# optional state_file, and each of those is a volume mounted by the pod, e.g.
# an emptyDir at /run/backup-gate with `state_file: /run/backup-gate/state.json`.
# The config is expected at /etc/backup-gate/gate.yaml (a ConfigMap mount);
# override the arguments to use another path.

ARG DEBIAN_IMAGE=debian:12
ARG DEBIAN_SLIM_IMAGE=debian:12-slim

# STAGE: build
FROM ${DEBIAN_IMAGE} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY packaging/build-packages.txt /tmp/
RUN apt-get update \
    && sed 's/#.*//' /tmp/build-packages.txt \
       | DEBIAN_FRONTEND=noninteractive xargs apt-get install -y --no-install-recommends \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Only what the build reads, so edits elsewhere keep the compile layer cached.
COPY CMakeLists.txt ./
COPY cmake cmake
COPY drivers drivers
COPY sidecar sidecar
COPY probes probes
ARG REVISION=unknown
RUN cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release \
          -DBGATE_WERROR=ON -DBGATE_BUILD_TESTS=OFF \
          -DBGATE_REVISION="${REVISION}" \
    && cmake --build build --target backup-gate \
    && cmake --install build --prefix /out --strip

# STAGE: runtime
FROM ${DEBIAN_SLIM_IMAGE} AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="backup-gate" \
      org.opencontainers.image.description="Readiness gate for backup workers: keeps a pod out of rotation while its backup storage does not work" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="debian:12-slim"
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
COPY packaging/runtime-packages.txt /tmp/
RUN apt-get update \
    && sed 's/#.*//' /tmp/runtime-packages.txt \
       | DEBIAN_FRONTEND=noninteractive xargs apt-get install -y --no-install-recommends \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt
# Owned by root and mode 0755 (set by `cmake --install` in the build stage):
# the runtime user can run the binary and load the module but not replace
# them. The module keeps its place relative to the binary.
COPY --from=build --chown=0:0 /out/bin/backup-gate /usr/local/bin/backup-gate
COPY --from=build --chown=0:0 /out/lib/backup-gate /usr/local/lib/backup-gate
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/backup-gate"]
CMD ["--config", "/etc/backup-gate/gate.yaml"]
