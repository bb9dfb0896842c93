# The BigFS image (bigfs:local in docker-compose.yml): built from this
# repository with the same scripts/install-deps.sh and `make` a developer
# uses. .dockerignore keeps local build folders, .git and test caches out
# of the build context.
FROM debian:12
COPY . /src
WORKDIR /src
RUN scripts/install-deps.sh && make -j"$(nproc)" && make install \
    && rm -rf /var/lib/apt/lists/*
