terraform {
  required_version = ">= 1.5.0"

  required_providers {
    azurerm = {
      source  = "hashicorp/azurerm"
      version = "~> 4.40"
    }
    random = {
      source  = "hashicorp/random"
      version = "~> 3.7"
    }
  }

  # State lives in a storage account created beforehand (it cannot be part of this
  # configuration); pass its coordinates with -backend-config (docs/deployment.md).
  backend "azurerm" {}
}

provider "azurerm" {
  features {}

  # The archive account may refuse the account key: reach its data plane with Entra ID.
  storage_use_azuread = true

  # null: taken from ARM_SUBSCRIPTION_ID (required since azurerm 4.0).
  subscription_id = var.subscription_id
}
