# The article's infrastructure on azurerm 4.x: a resource group named by random_pet, Log
# Analytics with Container Insights, ACR, AKS (managed identity, monitoring agent, OIDC issuer
# and Workload Identity), AcrPull for the kubelet identity and the storage account that
# receives the recordings (the archive; Entra ID only by default: identity.tf).
#
# The recorders' Azure Files share is not here: the chart's StorageClass lets the CSI driver
# provision it in a storage account of its own in the cluster's node resource group, with
# keys, because SMB mounts need them. Nothing else lives in that account.

resource "random_pet" "service" {
  prefix = var.name_prefix
  length = 2
}

# Suffix for the globally unique ACR and storage account names.
resource "random_id" "suffix" {
  byte_length = 3
}

locals {
  service_name = random_pet.service.id
  compact_name = substr(replace(random_pet.service.id, "-", ""), 0, 14)
  suffix       = random_id.suffix.hex
}

resource "azurerm_resource_group" "rg" {
  name     = local.service_name
  location = var.location
  tags     = var.tags
}

resource "azurerm_log_analytics_workspace" "logs" {
  name                = "${local.service_name}-logs"
  location            = azurerm_resource_group.rg.location
  resource_group_name = azurerm_resource_group.rg.name
  sku                 = "PerGB2018"
  retention_in_days   = var.log_retention_days
  tags                = var.tags
}

resource "azurerm_log_analytics_solution" "container_insights" {
  solution_name         = "ContainerInsights"
  location              = azurerm_resource_group.rg.location
  resource_group_name   = azurerm_resource_group.rg.name
  workspace_resource_id = azurerm_log_analytics_workspace.logs.id
  workspace_name        = azurerm_log_analytics_workspace.logs.name
  tags                  = var.tags

  plan {
    publisher = "Microsoft"
    product   = "OMSGallery/ContainerInsights"
  }
}

resource "azurerm_container_registry" "acr" {
  #checkov:skip=CKV_AZURE_139:private endpoints need the Premium SKU; the article's Standard registry is kept
  #checkov:skip=CKV_AZURE_163:image scanning is Microsoft Defender for Containers, enabled per subscription, not per registry
  #checkov:skip=CKV_AZURE_164:content trust (signed images) needs the Premium SKU
  #checkov:skip=CKV_AZURE_165:geo-replication needs the Premium SKU
  #checkov:skip=CKV_AZURE_166:quarantine needs the Premium SKU
  #checkov:skip=CKV_AZURE_167:retention of untagged manifests needs the Premium SKU
  #checkov:skip=CKV_AZURE_233:zone redundancy needs the Premium SKU
  #checkov:skip=CKV_AZURE_237:dedicated data endpoints need the Premium SKU
  name                   = "acr${local.compact_name}${local.suffix}"
  resource_group_name    = azurerm_resource_group.rg.name
  location               = azurerm_resource_group.rg.location
  sku                    = "Standard"
  admin_enabled          = false
  anonymous_pull_enabled = false
  tags                   = var.tags
}

resource "azurerm_kubernetes_cluster" "aks" {
  #checkov:skip=CKV_AZURE_115:a proof of concept driven with kubectl from a workstation; restrict with api_server_authorized_ip_ranges instead
  #checkov:skip=CKV_AZURE_6:api_server_authorized_ip_ranges is a variable, empty by default because the operator's IP is not known here
  #checkov:skip=CKV_AZURE_117:a disk encryption set needs a Key Vault and customer-managed key, out of scope; platform-managed encryption applies
  #checkov:skip=CKV_AZURE_141:disabling local accounts needs Entra ID integration and RBAC groups, out of scope for the proof of concept
  #checkov:skip=CKV_AZURE_170:the paid SLA tier is a cost decision; Free is enough for a proof of concept
  #checkov:skip=CKV_AZURE_172:the Key Vault secrets provider is not used (Workload Identity needs no secret; the key mode keeps its connection string in a Kubernetes Secret)
  #checkov:skip=CKV_AZURE_226:ephemeral OS disks need a VM size whose cache holds the OS disk; not true for every node_vm_size
  #checkov:skip=CKV_AZURE_227:encryption at host needs the EncryptionAtHost feature registered on the subscription
  #checkov:skip=CKV_AZURE_232:one node pool runs system and workload pods in this proof of concept
  name                = local.service_name
  location            = azurerm_resource_group.rg.location
  resource_group_name = azurerm_resource_group.rg.name
  dns_prefix          = local.service_name
  kubernetes_version  = var.kubernetes_version
  tags                = var.tags

  # Workload Identity: the cluster issues OIDC tokens to service accounts, which Entra ID
  # accepts through the federated credential in identity.tf.
  oidc_issuer_enabled       = true
  workload_identity_enabled = true

  automatic_upgrade_channel         = "patch"
  node_os_upgrade_channel           = "NodeImage"
  role_based_access_control_enabled = true
  azure_policy_enabled              = true

  default_node_pool {
    name                        = "system"
    node_count                  = var.node_count
    vm_size                     = var.node_vm_size
    max_pods                    = 110
    temporary_name_for_rotation = "systemtmp"
  }

  identity {
    type = "SystemAssigned"
  }

  # The addon_profile block of azurerm 2.x is gone: the monitoring agent is oms_agent.
  oms_agent {
    log_analytics_workspace_id      = azurerm_log_analytics_workspace.logs.id
    msi_auth_for_monitoring_enabled = true
  }

  # Azure Monitor managed Prometheus (monitoring.tf, monitoring_enabled): the metrics add-on
  # scrapes the cluster and the chart's azmonitoring PodMonitors.
  dynamic "monitor_metrics" {
    for_each = var.monitoring_enabled ? [1] : []
    content {
      annotations_allowed = null
      labels_allowed      = null
    }
  }

  # The article used kubenet, which AKS retires in March 2028: Azure CNI Overlay with the
  # Cilium data plane (which also enforces the manifests' NetworkPolicy).
  network_profile {
    network_plugin      = "azure"
    network_plugin_mode = "overlay"
    network_data_plane  = "cilium"
    network_policy      = "cilium"
    load_balancer_sku   = "standard"
  }

  dynamic "api_server_access_profile" {
    for_each = length(var.api_server_authorized_ip_ranges) > 0 ? [1] : []
    content {
      authorized_ip_ranges = var.api_server_authorized_ip_ranges
    }
  }

  depends_on = [azurerm_log_analytics_solution.container_insights]
}

# Lets the nodes pull the CronJob image from the registry without credentials.
resource "azurerm_role_assignment" "aks_acr_pull" {
  scope                            = azurerm_container_registry.acr.id
  role_definition_name             = "AcrPull"
  principal_id                     = azurerm_kubernetes_cluster.aks.kubelet_identity[0].object_id
  skip_service_principal_aad_check = true
}

# The archive: blob container <stream>, table `audios` (both created by the job). Only the
# archiver's identity writes here (identity.tf); with archive_shared_key_enabled = false (the
# default) the account key cannot be used at all.
resource "azurerm_storage_account" "recordings" {
  #checkov:skip=CKV_AZURE_33:queues are not used; queue logging would record nothing
  #checkov:skip=CKV_AZURE_35:the job reaches the account from AKS over the public endpoint; restricting it needs VNet integration, out of scope
  #checkov:skip=CKV_AZURE_59:same reason: the job uses the public endpoint
  #checkov:skip=CKV_AZURE_206:LRS is the article's choice for a proof of concept; use GRS/ZRS for production archives
  #checkov:skip=CKV2_AZURE_1:customer-managed keys need a Key Vault, out of scope; Microsoft-managed encryption applies
  #checkov:skip=CKV2_AZURE_33:private endpoints need VNet integration, out of scope
  name                     = "st${local.compact_name}${local.suffix}"
  resource_group_name      = azurerm_resource_group.rg.name
  location                 = azurerm_resource_group.rg.location
  account_tier             = "Standard"
  account_replication_type = "LRS"
  account_kind             = "StorageV2"
  tags                     = var.tags

  # The job authenticates with Entra ID (Workload Identity). true only for the connection
  # string mode (docs/deployment.md, "Migrating from the account key").
  shared_access_key_enabled         = var.archive_shared_key_enabled
  default_to_oauth_authentication   = true
  min_tls_version                   = "TLS1_2"
  https_traffic_only_enabled        = true
  allow_nested_items_to_be_public   = false
  local_user_enabled                = false
  infrastructure_encryption_enabled = true

  blob_properties {
    delete_retention_policy {
      days = var.blob_soft_delete_days
    }
    container_delete_retention_policy {
      days = var.blob_soft_delete_days
    }
  }

  sas_policy {
    expiration_period = "7.00:00:00"
    expiration_action = "Log"
  }
}
