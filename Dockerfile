# syntax=docker/dockerfile:1
# Build: a static binary, no cgo.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/livecart ./cmd/livecart

# Run: nothing but the binary and CA certificates, as an unprivileged user.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/livecart /livecart
USER nonroot:nonroot
EXPOSE 8080/tcp 8443/udp
ENTRYPOINT ["/livecart"]
CMD ["serve"]
