package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// setupTracing makes runs traces exported over OTLP when the standard
// OpenTelemetry environment variables ask for it, and returns what flushes
// the spans still buffered and stops. Without an OTLP endpoint (or with
// OTEL_TRACES_EXPORTER=none or OTEL_SDK_DISABLED=true) it installs nothing:
// spans stay the API's no-ops, runs have no trace ID, requests carry no
// traceparent and nothing is exported.
//
// Everything else is read by the SDK from the same variables: the endpoint,
// headers, TLS and timeout of the exporter (OTEL_EXPORTER_OTLP_*), the
// sampler (OTEL_TRACES_SAMPLER), the batching (OTEL_BSP_*) and the
// resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES).
func setupTracing(ctx context.Context, logger *slog.Logger) (stop func(), err error) {
	exporter, protocol, err := traceExporter(ctx)
	if err != nil || exporter == nil {
		return func() {}, err
	}
	// Later sources win: the variables over the defaults.
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", "authprobe"), attribute.String("service.version", version)),
		resource.WithTelemetrySDK(),
		resource.WithFromEnv(),
	)
	if err != nil {
		// A malformed OTEL_RESOURCE_ATTRIBUTES leaves out what it cannot
		// parse; the traces are still worth having.
		logger.Warn("tracing: the resource is incomplete", "err", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		logger.Warn("tracing: spans not exported", "err", err)
	}))
	logger.Info("tracing: exporting spans over OTLP", "protocol", protocol)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			logger.Warn("tracing: spans not flushed at exit", "err", err)
		}
	}, nil
}

// traceExporter returns the OTLP exporter the environment asks for, or nil
// when it asks for none, with its protocol.
func traceExporter(ctx context.Context) (sdktrace.SpanExporter, string, error) {
	if strings.EqualFold(strings.TrimSpace(os.Getenv("OTEL_SDK_DISABLED")), "true") {
		return nil, "", nil
	}
	switch exp := strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER")); exp {
	case "none":
		return nil, "", nil
	case "":
		// Off unless told where to send spans: a prober that tries
		// localhost:4318 on every run of every journey by default would
		// be noise.
		if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") == "" && os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") == "" {
			return nil, "", nil
		}
	case "otlp":
		// Asked for by name: the exporter's default endpoint will do.
	default:
		return nil, "", &exitError{2, fmt.Errorf("OTEL_TRACES_EXPORTER=%s is not supported; use otlp or none", exp)}
	}
	protocol := cmp.Or(strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")),
		strings.TrimSpace(os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")), "http/protobuf")
	var exporter sdktrace.SpanExporter
	var err error
	switch protocol {
	case "http/protobuf":
		exporter, err = otlptracehttp.New(ctx)
	case "grpc":
		exporter, err = otlptracegrpc.New(ctx)
	default:
		return nil, "", &exitError{2, fmt.Errorf("OTLP protocol %s (OTEL_EXPORTER_OTLP_PROTOCOL) is not supported; use http/protobuf or grpc", protocol)}
	}
	if err != nil {
		return nil, "", &exitError{2, fmt.Errorf("the OTLP trace exporter: %w", err)}
	}
	return exporter, protocol, nil
}
