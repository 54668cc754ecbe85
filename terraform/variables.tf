variable "subscription_id" {
  description = "Azure subscription to deploy into. Leave null to use the ARM_SUBSCRIPTION_ID environment variable."
  type        = string
  default     = null
}

variable "location" {
  description = "Azure region for every resource, e.g. westeurope."
  type        = string
  default     = "westeurope"
}

variable "name_prefix" {
  description = "Prefix of the random service name (random_pet) used for the resource group and the AKS cluster."
  type        = string
  default     = "ffmpeg"

  validation {
    condition     = can(regex("^[a-z][a-z0-9]{1,9}$", var.name_prefix))
    error_message = "name_prefix must be 2-10 lowercase letters or digits, starting with a letter (it also goes into the ACR and storage account names)."
  }
}

variable "node_count" {
  description = "Number of nodes in the AKS system node pool. With 2 or more, the two ffmpeg replicas run on different nodes."
  type        = number
  default     = 1

  validation {
    condition     = var.node_count >= 1 && var.node_count <= 10
    error_message = "node_count must be between 1 and 10."
  }
}

variable "node_vm_size" {
  description = "VM size of the AKS nodes (the original article used Standard_D2_v2)."
  type        = string
  default     = "Standard_D2_v2"
}

variable "kubernetes_version" {
  description = "AKS Kubernetes version (minor alias such as \"1.32\"). null picks AKS's current default; the manifests are validated against 1.30 to 1.33."
  type        = string
  default     = null
}

variable "api_server_authorized_ip_ranges" {
  description = "CIDRs allowed to reach the Kubernetes API server (e.g. your workstation's public IP as x.x.x.x/32). Empty: reachable from anywhere, authenticated."
  type        = list(string)
  default     = []
}

variable "log_retention_days" {
  description = "Retention of the Log Analytics workspace (Container Insights logs), in days."
  type        = number
  default     = 30
}

variable "blob_soft_delete_days" {
  description = "Days during which deleted recordings (blobs) and containers can be restored."
  type        = number
  default     = 14
}

variable "archive_shared_key_enabled" {
  description = "Allow the archive's account key (the connection string mode). false: Entra ID only, the archiver authenticates with Workload Identity."
  type        = bool
  default     = false
}

variable "archiver_namespace" {
  description = "Kubernetes namespace of the chart releases whose archivers may use the identity."
  type        = string
  default     = "streams"
}

variable "archiver_releases" {
  description = "Helm release names (one per stream) whose CronJob service account <release>-archiver is federated with the archiver identity (at most 20)."
  type        = list(string)
  default     = ["hope", "inspire"]

  validation {
    condition     = length(var.archiver_releases) <= 20
    error_message = "A managed identity takes at most 20 federated credentials."
  }
}

variable "archive_streams" {
  description = "Stream names (lowercased: the blob containers) whose audio the lifecycle policy moves to cool and deletes."
  type        = list(string)
  default     = ["hope", "inspire"]
}

variable "archive_cool_after_days" {
  description = "Days after upload when archived audio moves to the cool tier (N). Day manifests (_days/) stay hot."
  type        = number
  default     = 30

  validation {
    condition     = var.archive_cool_after_days >= 1
    error_message = "archive_cool_after_days must be at least 1."
  }
}

variable "archive_delete_after_days" {
  description = "Days after upload when archived audio is deleted (M, more than archive_cool_after_days). Day manifests (_days/) and table rows stay."
  type        = number
  default     = 365

  validation {
    condition     = var.archive_delete_after_days >= 2
    error_message = "archive_delete_after_days must be at least 2."
  }
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default = {
    project = "ffmpeg-recorder"
  }
}

variable "exporter_identity_enabled" {
  description = "Create the metrics exporter's managed identity (Storage Blob Data Reader and Storage Table Data Reader on the archive), federated with <release>-metrics of every archiver_releases entry: the chart's metrics.clientId (output exporter_client_id)."
  type        = bool
  default     = false
}

variable "monitoring_enabled" {
  description = "Azure Monitor managed Prometheus for the cluster (workspace, metrics add-on, data collection endpoint, rule and association), one alert rule group per archive_streams entry from helm/ffmpeg/files/alert-rules.yaml, and the action group. Needs the chart's metrics.enabled and monitoring.azurePodMonitor.enabled in every release."
  type        = bool
  default     = false
}

variable "alert_email_addresses" {
  description = "Addresses the action group mails when an alert fires or resolves."
  type        = list(string)
  default     = []
}

variable "alert_webhooks" {
  description = "Webhooks the action group calls (Azure's common alert schema), name => URL. A URL carrying a token lands in the state: keep it in terraform.tfvars, which is not committed."
  type        = map(string)
  default     = {}
}

variable "alert_parameters" {
  description = "Overrides of the alert rules' parameters (helm/ffmpeg/files/alert-rules.yaml, local.alert_parameter_defaults in monitoring.tf), e.g. { backlog_segments = \"3\" }. Durations as Prometheus writes them, in h, m and s."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([for k in keys(var.alert_parameters) : contains([
      "archive_stalled_slack_seconds", "archive_stalled_for", "redundancy_lost_for",
      "job_failing_no_success_seconds", "job_failing_errors_window", "job_failing_for",
      "backlog_segments", "backlog_slack_seconds", "backlog_for", "dead_air_seconds", "dead_air_for",
      "gap_window", "disagree_window", "share_free_ratio", "share_predict_window", "share_predict_hours",
      "share_for", "exporter_down_for",
    ], k)])
    error_message = "alert_parameters: unknown parameter; see local.alert_parameter_defaults in monitoring.tf."
  }
}

variable "exporter_job_name" {
  description = "The job label of the exporter's scrape targets: the chart's monitoring.jobName."
  type        = string
  default     = "segment-selector"
}

variable "alert_runbook_url" {
  description = "Where the alerts' runbook_url points (the chart's monitoring.runbookURL): docs/operations.md as your team reads it."
  type        = string
  default     = "docs/operations.md"
}
