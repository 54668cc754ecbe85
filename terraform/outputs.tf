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
  description = "Connection string of the archive (AZURE_STORAGE_CONNECTION_STRING of the CronJob in the key mode); null unless archive_shared_key_enabled."
  value       = var.archive_shared_key_enabled ? azurerm_storage_account.recordings.primary_connection_string : null
  sensitive   = true
}

output "archiver_client_id" {
  description = "Client id of the archiver's managed identity: the chart's workloadIdentity.clientId (the ServiceAccount annotation azure.workload.identity/client-id)."
  value       = azurerm_user_assigned_identity.archiver.client_id
}

output "tenant_id" {
  description = "Entra ID tenant of the archiver's identity (the webhook injects it as AZURE_TENANT_ID)."
  value       = azurerm_user_assigned_identity.archiver.tenant_id
}

output "oidc_issuer_url" {
  description = "OIDC issuer of the cluster, trusted by the federated credentials."
  value       = azurerm_kubernetes_cluster.aks.oidc_issuer_url
}

output "exporter_client_id" {
  description = "Client id of the metrics exporter's read-only managed identity: the chart's metrics.clientId (null unless exporter_identity_enabled)."
  value       = var.exporter_identity_enabled ? azurerm_user_assigned_identity.exporter[0].client_id : null
}

output "monitor_workspace_id" {
  description = "The Azure Monitor workspace holding the cluster's Prometheus metrics (null unless monitoring_enabled); Azure Managed Grafana reads it (docs/grafana-dashboard.json)."
  value       = var.monitoring_enabled ? azurerm_monitor_workspace.prometheus[0].id : null
}
