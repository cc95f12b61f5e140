module github.com/ore-masora/pipeline/schemas

go 1.26.6
