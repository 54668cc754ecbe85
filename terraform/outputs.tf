output "service_name" {
  description = "Random service name: the resource group and the AKS cluster are called this."
  value       = local.service_name
}

output "acr_name" {
  description = "Name of the Azure Container Registry (login server: <acr_name>.azurecr.io)."
  value       = azurerm_container_registry.acr.name
}

output "acr_login_server" {
  description = "Login server of the registry, the prefix of the CronJob image."
  value       = azurerm_container_registry.acr.login_server
}

output "storage_account_name" {
  description = "Name of the storage account that receives the recordings."
  value       = azurerm_storage_account.recordings.name
}

output "storage_account_connectionstring" {
  description = "Connection string of the recordings storage account (AZURE_STORAGE_CONNECTION_STRING of the CronJob)."
  value       = azurerm_storage_account.recordings.primary_connection_string
  sensitive   = true
}
