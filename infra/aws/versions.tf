terraform {
  required_version = ">= 1.6"

  required_providers {
    # The configuration was checked against the schemas of aws 6.25 and archive 2.7 (see
    # ../README.md).
    aws = {
      source  = "hashicorp/aws"
      version = "~> 6.25"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.7"
    }
  }

  # Configure a remote backend before the first apply, e.g.
  #   backend "s3" { bucket = "my-terraform-state" key = "ore-masora/aws.tfstate" region = "eu-west-1" }
  # (see README.md). Without one, state stays in a local terraform.tfstate.
}

provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}
