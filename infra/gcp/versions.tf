terraform {
  required_version = ">= 1.6"

  required_providers {
    # The configuration was checked against the schema of google 6.50 (see ../README.md).
    google = {
      source  = "hashicorp/google"
      version = "~> 6.50"
    }
  }

  # Configure a remote backend before the first apply, e.g.
  #   backend "gcs" { bucket = "my-terraform-state" prefix = "ore-masora/gcp" }
  # (see README.md). Without one, state stays in a local terraform.tfstate.
}

provider "google" {
  project = var.project_id
  region  = var.region
}
