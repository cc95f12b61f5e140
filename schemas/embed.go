// Package schemas embeds the language-neutral definitions of every log type
// (logtypes/<log_type>/v<N>.json) and the numbered Postgres migrations of the
// reporting database (migrations/NNNN_name.up.sql). Go code reads them through
// github.com/ore-masora/pipeline/libs/schema and libs/reportdb; nothing else
// belongs in this module.
package schemas

import "embed"

// LogTypes holds logtypes/<log_type>/v<N>.json, one file per log type version.
//
//go:embed logtypes
var LogTypes embed.FS

// Migrations holds the forward-only Postgres migrations, migrations/NNNN_name.up.sql.
//
//go:embed migrations
var Migrations embed.FS
