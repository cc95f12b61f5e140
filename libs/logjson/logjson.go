// Package logjson builds the services' structured logger: JSON lines with
// the field names both CloudWatch Logs and Cloud Logging understand
// ("severity", "message", "time"). It only constructs loggers; code in libs/
// never logs itself.
package logjson

import (
	"io"
	"log/slog"
)

// New returns a JSON logger writing to w at the given minimum level.
func New(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.MessageKey:
				a.Key = "message"
			case slog.LevelKey:
				a.Key = "severity"
				if l, ok := a.Value.Any().(slog.Level); ok && l >= slog.LevelWarn && l < slog.LevelError {
					a.Value = slog.StringValue("WARNING")
				}
			}
			return a
		},
	}))
}
