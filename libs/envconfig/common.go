package envconfig

import "log/slog"

// The variables below mean the same in every service of the pipeline; each
// service puts them in its table through these, so their names, defaults and
// docs are declared once.

// LogLevel is LOG_LEVEL: the lowest level logged.
func LogLevel(p *slog.Level) Var {
	return Var{Name: "LOG_LEVEL", Default: "info", Value: Level(p), Doc: "debug, info, warn or error"}
}

// GCSPrefix is GCS_PREFIX: the object name prefix of the pipeline's layout
// inside the bucket, def when unset (layout.DefaultPrefix).
func GCSPrefix(p *string, def string) Var {
	return Var{Name: "GCS_PREFIX", Default: def, Value: String(p), Doc: "object name prefix of the layout inside the bucket"}
}

// StorageEmulatorHost is STORAGE_EMULATOR_HOST, which the Cloud Storage client
// reads itself: listed for --help, not loaded.
var StorageEmulatorHost = Var{Name: "STORAGE_EMULATOR_HOST",
	Doc: "http://host:port of a GCS emulator; unset for Google Cloud Storage (read by the storage client)"}
