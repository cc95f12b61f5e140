module github.com/ore-masora/pipeline/libs/producer

go 1.26.6

require (
	github.com/aws/aws-sdk-go-v2 v1.48.0
	github.com/aws/aws-sdk-go-v2/service/sqs v1.53.0
	github.com/aws/smithy-go v1.28.9
	github.com/google/go-cmp v0.7.0
	github.com/ore-masora/pipeline/libs/schema v0.0.0
)

require (
	github.com/aws/aws-sdk-go-v2/internal/configsources v1.5.12 // indirect
	github.com/aws/aws-sdk-go-v2/internal/endpoints/v2 v2.8.12 // indirect
	github.com/ore-masora/pipeline/schemas v0.0.0 // indirect
)

replace (
	github.com/ore-masora/pipeline/libs/schema => ../schema
	github.com/ore-masora/pipeline/schemas => ../../schemas
)
