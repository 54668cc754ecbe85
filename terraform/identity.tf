# Workload Identity for the archiver (issue #16): a user-assigned identity, federated with the
# CronJob's service account of each release, holding data roles on the archive account only.
# Nothing in the cluster holds a storage secret.

resource "azurerm_user_assigned_identity" "archiver" {
  name                = "${local.service_name}-archiver"
  resource_group_name = azurerm_resource_group.rg.name
  location            = azurerm_resource_group.rg.location
  tags                = var.tags
}

# One per release: the chart names the archiver's service account <release>-archiver. The
# subject must match exactly, so a pod under any other service account gets no token.
resource "azurerm_federated_identity_credential" "archiver" {
  for_each            = toset(var.archiver_releases)
  name                = "${each.value}-archiver"
  resource_group_name = azurerm_resource_group.rg.name
  parent_id           = azurerm_user_assigned_identity.archiver.id
  issuer              = azurerm_kubernetes_cluster.aks.oidc_issuer_url
  subject             = "system:serviceaccount:${var.archiver_namespace}:${each.value}-archiver"
  audience            = ["api://AzureADTokenExchange"]
}

# Least privilege: data roles, scoped to the archive account (not the resource group, not the
# recorders' share). No management role: the identity cannot read keys or change the account.
resource "azurerm_role_assignment" "archiver_blobs" {
  scope                            = azurerm_storage_account.recordings.id
  role_definition_name             = "Storage Blob Data Contributor"
  principal_id                     = azurerm_user_assigned_identity.archiver.principal_id
  skip_service_principal_aad_check = true
}

resource "azurerm_role_assignment" "archiver_tables" {
  scope                            = azurerm_storage_account.recordings.id
  role_definition_name             = "Storage Table Data Contributor"
  principal_id                     = azurerm_user_assigned_identity.archiver.principal_id
  skip_service_principal_aad_check = true
}

# Retention. Audio blobs are named DD-MM-YYYY/<file> (the default BLOB_TEMPLATE), so the
# prefixes <stream>/0 .. <stream>/3 select exactly them: day manifests (_days/) and the lock
# (.locks/) never match and stay hot. Ages count from the last modification, which for an
# archived segment is its upload. Rows in table `audios` are kept: they still say what was
# recorded, and the job does not re-upload a row's segment once its local file is gone.
resource "azurerm_storage_management_policy" "archive" {
  storage_account_id = azurerm_storage_account.recordings.id

  # One rule per stream (container): a rule takes at most 10 prefixes.
  dynamic "rule" {
    for_each = toset([for s in var.archive_streams : lower(s)])
    content {
      name    = "${rule.value}-audio-cool-then-delete"
      enabled = true
      filters {
        blob_types   = ["blockBlob"]
        prefix_match = [for d in ["0", "1", "2", "3"] : "${rule.value}/${d}"]
      }
      actions {
        base_blob {
          tier_to_cool_after_days_since_modification_greater_than = var.archive_cool_after_days
          delete_after_days_since_modification_greater_than       = var.archive_delete_after_days
        }
      }
    }
  }

  lifecycle {
    precondition {
      condition     = var.archive_delete_after_days > var.archive_cool_after_days
      error_message = "archive_delete_after_days (M) must be greater than archive_cool_after_days (N)."
    }
  }
}

# The metrics exporter's own identity (issue #25, exporter_identity_enabled): read-only data
# roles on the archive account, federated with each release's <release>-metrics service
# account. It reads the archive's rows and blobs and can change nothing; the archiver's
# identity above stays the only writer.
resource "azurerm_user_assigned_identity" "exporter" {
  count               = var.exporter_identity_enabled ? 1 : 0
  name                = "${local.service_name}-exporter"
  resource_group_name = azurerm_resource_group.rg.name
  location            = azurerm_resource_group.rg.location
  tags                = var.tags
}

resource "azurerm_federated_identity_credential" "exporter" {
  for_each            = var.exporter_identity_enabled ? toset(var.archiver_releases) : toset([])
  name                = "${each.value}-metrics"
  resource_group_name = azurerm_resource_group.rg.name
  parent_id           = azurerm_user_assigned_identity.exporter[0].id
  issuer              = azurerm_kubernetes_cluster.aks.oidc_issuer_url
  subject             = "system:serviceaccount:${var.archiver_namespace}:${each.value}-metrics"
  audience            = ["api://AzureADTokenExchange"]
}

resource "azurerm_role_assignment" "exporter_blobs" {
  count                            = var.exporter_identity_enabled ? 1 : 0
  scope                            = azurerm_storage_account.recordings.id
  role_definition_name             = "Storage Blob Data Reader"
  principal_id                     = azurerm_user_assigned_identity.exporter[0].principal_id
  skip_service_principal_aad_check = true
}

resource "azurerm_role_assignment" "exporter_tables" {
  count                            = var.exporter_identity_enabled ? 1 : 0
  scope                            = azurerm_storage_account.recordings.id
  role_definition_name             = "Storage Table Data Reader"
  principal_id                     = azurerm_user_assigned_identity.exporter[0].principal_id
  skip_service_principal_aad_check = true
}
