# Monitoring (issue #25), off by default (monitoring_enabled): Azure Monitor managed
# Prometheus for the cluster (an Azure Monitor workspace, the AKS metrics add-on through
# monitor_metrics in main.tf, a data collection endpoint, rule and association), the alerts of
# helm/ffmpeg/files/alert-rules.yaml as one Prometheus rule group per stream, and an action
# group that mails and calls webhooks. The chart's azurePodMonitor lets the add-on scrape each
# release's exporter (docs/operations.md). The exporter's identity is in identity.tf.

locals {
  # The same file the chart's PrometheusRule is rendered from; scripts/validate-deploy.sh
  # checks that both give the same alerts and expressions.
  alert_rules_file = "${path.module}/../helm/ffmpeg/files/alert-rules.yaml"

  # Parameters of the rules file: the chart's defaults for segmentTime 600, schedule "*/5 * * * *"
  # and activeDeadlineSeconds 240 (helm/ffmpeg/templates/_monitoring.tpl derives the same);
  # var.alert_parameters overrides any of them.
  alert_parameter_defaults = {
    archive_stalled_slack_seconds  = "960"
    archive_stalled_for            = "5m"
    redundancy_lost_for            = "10m"
    job_failing_no_success_seconds = "1140"
    job_failing_errors_window      = "15m"
    job_failing_for                = "5m"
    backlog_segments               = "2"
    backlog_slack_seconds          = "660"
    backlog_for                    = "5m"
    dead_air_seconds               = "30"
    dead_air_for                   = "0s"
    gap_window                     = "1h"
    disagree_window                = "1h"
    share_free_ratio               = "0.1"
    share_predict_window           = "6h"
    share_predict_hours            = "4"
    share_for                      = "15m"
    exporter_down_for              = "5m"
  }
  alert_parameters = merge(local.alert_parameter_defaults, var.alert_parameters)

  # One rule group per stream (the lowercased names: the metrics' `stream` label).
  monitored_streams = var.monitoring_enabled ? toset([for s in var.archive_streams : lower(s)]) : toset([])

  # Prometheus severities as Azure alert severities (0 critical ... 4 verbose).
  alert_severity = { critical = 0, warning = 2, info = 3 }
}

resource "azurerm_monitor_workspace" "prometheus" {
  count               = var.monitoring_enabled ? 1 : 0
  name                = "${local.service_name}-prometheus"
  resource_group_name = azurerm_resource_group.rg.name
  location            = azurerm_resource_group.rg.location
  tags                = var.tags
}

# The metrics add-on (ama-metrics) sends what it scrapes through this endpoint and rule.
resource "azurerm_monitor_data_collection_endpoint" "prometheus" {
  count               = var.monitoring_enabled ? 1 : 0
  name                = "${local.service_name}-prometheus"
  resource_group_name = azurerm_resource_group.rg.name
  location            = azurerm_resource_group.rg.location
  kind                = "Linux"
  tags                = var.tags
}

resource "azurerm_monitor_data_collection_rule" "prometheus" {
  count                       = var.monitoring_enabled ? 1 : 0
  name                        = "${local.service_name}-prometheus"
  resource_group_name         = azurerm_resource_group.rg.name
  location                    = azurerm_resource_group.rg.location
  data_collection_endpoint_id = azurerm_monitor_data_collection_endpoint.prometheus[0].id
  kind                        = "Linux"
  description                 = "Managed Prometheus metrics of the AKS cluster into the Azure Monitor workspace"
  tags                        = var.tags

  destinations {
    monitor_account {
      monitor_account_id = azurerm_monitor_workspace.prometheus[0].id
      name               = "MonitoringAccount1"
    }
  }

  data_flow {
    streams      = ["Microsoft-PrometheusMetrics"]
    destinations = ["MonitoringAccount1"]
  }

  data_sources {
    prometheus_forwarder {
      streams = ["Microsoft-PrometheusMetrics"]
      name    = "PrometheusDataSource"
    }
  }
}

resource "azurerm_monitor_data_collection_rule_association" "prometheus" {
  count                   = var.monitoring_enabled ? 1 : 0
  name                    = "${local.service_name}-prometheus"
  target_resource_id      = azurerm_kubernetes_cluster.aks.id
  data_collection_rule_id = azurerm_monitor_data_collection_rule.prometheus[0].id
  description             = "The cluster's Prometheus metrics; deleting this stops their collection."
}

# Who hears about it: mail and webhooks (Azure's common alert schema).
resource "azurerm_monitor_action_group" "alerts" {
  count               = var.monitoring_enabled ? 1 : 0
  name                = "${local.service_name}-alerts"
  resource_group_name = azurerm_resource_group.rg.name
  short_name          = "segselector"
  tags                = var.tags

  dynamic "email_receiver" {
    for_each = var.alert_email_addresses
    content {
      name                    = "email-${email_receiver.key}"
      email_address           = email_receiver.value
      use_common_alert_schema = true
    }
  }

  dynamic "webhook_receiver" {
    for_each = var.alert_webhooks
    content {
      name                    = webhook_receiver.key
      service_uri             = webhook_receiver.value
      use_common_alert_schema = true
    }
  }
}

# The alerts, read from the chart's rules file: its placeholders filled by templatefile()
# (an unknown one fails the plan), Prometheus durations turned into ISO 8601 ("5m" -> "PT5M";
# the chart's schema allows only h/m/s), severities into Azure's numbers.
resource "azurerm_monitor_alert_prometheus_rule_group" "segment_selector" {
  for_each            = local.monitored_streams
  name                = "${local.service_name}-segment-selector-${each.value}"
  resource_group_name = azurerm_resource_group.rg.name
  location            = azurerm_resource_group.rg.location
  cluster_name        = azurerm_kubernetes_cluster.aks.name
  description         = "segment-selector alerts of stream ${each.value} (helm/ffmpeg/files/alert-rules.yaml; runbooks: docs/operations.md)"
  rule_group_enabled  = true
  interval            = "PT1M"
  scopes              = [azurerm_monitor_workspace.prometheus[0].id]
  tags                = var.tags

  dynamic "rule" {
    for_each = yamldecode(templatefile(local.alert_rules_file, merge(local.alert_parameters, {
      stream      = each.value
      job         = var.exporter_job_name
      runbook_url = var.alert_runbook_url
    })))["groups"][0]["rules"]
    content {
      alert       = rule.value["alert"]
      enabled     = true
      expression  = rule.value["expr"]
      for         = lookup(rule.value, "for", "0s") == "0s" ? null : "PT${upper(lookup(rule.value, "for", "0s"))}"
      severity    = local.alert_severity[rule.value["labels"]["severity"]]
      labels      = rule.value["labels"]
      annotations = rule.value["annotations"]

      action {
        action_group_id = azurerm_monitor_action_group.alerts[0].id
      }

      alert_resolution {
        auto_resolved   = true
        time_to_resolve = "PT10M"
      }
    }
  }

  depends_on = [azurerm_monitor_data_collection_rule_association.prometheus]
}
