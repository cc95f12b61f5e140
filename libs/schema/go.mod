module github.com/ore-masora/pipeline/libs/schema

go 1.26.6

require (
	github.com/google/go-cmp v0.7.0
	github.com/ore-masora/pipeline/schemas v0.0.0
)

replace github.com/ore-masora/pipeline/schemas => ../../schemas
