variable "region" {
  description = "AWS region to deploy into."
  type        = string
}

variable "name" {
  description = "Name of the function and prefix of every resource."
  type        = string
  default     = "mcp-edge"
}

variable "package_zip" {
  description = "Path of the zip holding the `bootstrap` binary (cargo lambda build --release --arm64 --output-format zip)."
  type        = string
  default     = "../../target/lambda/bootstrap/bootstrap.zip"
}

variable "architecture" {
  description = "CPU architecture of the package: arm64 or x86_64."
  type        = string
  default     = "arm64"
  validation {
    condition     = contains(["arm64", "x86_64"], var.architecture)
    error_message = "architecture must be arm64 or x86_64."
  }
}

variable "memory_mb" {
  description = "Function memory in MB."
  type        = number
  default     = 256
}

variable "timeout_seconds" {
  description = "Longest one invocation (and so one held SSE stream) may run."
  type        = number
  default     = 900
}

variable "reserved_concurrency" {
  description = "Most concurrent executions (each held SSE stream occupies one); caps cost and DynamoDB load."
  type        = number
  default     = 100
}

variable "function_url_auth" {
  description = "Function URL authorization: NONE (callers authenticate to the gateway with API keys or OAuth) or AWS_IAM."
  type        = string
  default     = "NONE"
  validation {
    condition     = contains(["NONE", "AWS_IAM"], var.function_url_auth)
    error_message = "function_url_auth must be NONE or AWS_IAM."
  }
}

variable "invoke_mode" {
  description = "RESPONSE_STREAM (SSE flows incrementally) or BUFFERED (whole replies only)."
  type        = string
  default     = "RESPONSE_STREAM"
  validation {
    condition     = contains(["RESPONSE_STREAM", "BUFFERED"], var.invoke_mode)
    error_message = "invoke_mode must be RESPONSE_STREAM or BUFFERED."
  }
}

variable "log_retention_days" {
  description = "CloudWatch log retention."
  type        = number
  default     = 30
}

variable "log_level" {
  description = "MCP_EDGE_LOG_LEVEL (e.g. info, debug)."
  type        = string
  default     = "info"
}

variable "session_ttl" {
  description = "MCP_EDGE_SESSION_TTL: idle time after which a session expires (e.g. 1h)."
  type        = string
  default     = "1h"
}

variable "list_ttl" {
  description = "MCP_EDGE_LIST_TTL: how long a 2026-07-28 client may cache tools/list, prompts/list and the resource lists (ttlMs)."
  type        = string
  default     = "0s"
}

variable "task_ttl" {
  description = "MCP_EDGE_TASK_TTL: how long a task (Tasks extension) stays readable after it was created (ttlMs)."
  type        = string
  default     = "1h"
}

variable "gitlab_pipeline_poll" {
  description = "MCP_EDGE_GITLAB_PIPELINE_POLL: how often gitlab_wait_for_pipeline asks GitLab for the pipeline's status (at least 100ms)."
  type        = string
  default     = "10s"
}

variable "keepalive" {
  description = "MCP_EDGE_KEEPALIVE: interval of SSE keep-alive comments."
  type        = string
  default     = "15s"
}

variable "legacy_poll" {
  description = "MCP_EDGE_LEGACY_POLL: how often a held legacy /sse stream reads its session outbox."
  type        = string
  default     = "250ms"
}

variable "max_body_bytes" {
  description = "MCP_EDGE_MAX_BODY_BYTES: largest accepted request body."
  type        = number
  default     = 4194304
}

variable "allowed_origins" {
  description = "MCP_EDGE_ALLOWED_ORIGINS: browser origins allowed besides loopback ones."
  type        = list(string)
  default     = []
}

variable "allowed_hosts" {
  description = "MCP_EDGE_ALLOWED_HOSTS: Host names accepted (enforced when non-empty)."
  type        = list(string)
  default     = []
}

variable "api_keys" {
  description = "MCP_EDGE_API_KEYS: entries NAME=sha256:SALT:DIGEST[:ro][:tools=a*+b][:rate=60/10] (hashes from `mcp-edge hash-key`)."
  type        = list(string)
  default     = []
  sensitive   = true
}

variable "oauth" {
  description = "OAuth resource-server mode: issuer, audience and JWKS URI (MCP_EDGE_OAUTH_*); null for none."
  type = object({
    issuer                = string
    audience              = string
    jwks_uri              = string
    authorization_servers = optional(list(string), [])
    read_scope            = optional(string, "mcp:read")
    write_scope           = optional(string, "mcp:write")
  })
  default = null
}

variable "resource_url" {
  description = "MCP_EDGE_RESOURCE_URL: public URL of the MCP endpoint for OAuth metadata (derived from Host when empty)."
  type        = string
  default     = ""
}

variable "sse_responses" {
  description = "MCP_EDGE_SSE_RESPONSES: answer POSTs with SSE even when the client accepts JSON."
  type        = bool
  default     = false
}

variable "rate_limit" {
  description = "MCP_EDGE_RATE_LIMIT: per-caller request limit PER_MINUTE/BURST, or empty."
  type        = string
  default     = ""
}

variable "tool_rate_limit" {
  description = "MCP_EDGE_TOOL_RATE_LIMIT: per-caller tool-call limit PER_MINUTE/BURST, or empty."
  type        = string
  default     = ""
}

variable "max_sessions_per_caller" {
  description = "MCP_EDGE_MAX_SESSIONS_PER_CALLER: most sessions one caller may hold open at once, or null for no limit."
  type        = number
  default     = null
  validation {
    condition     = var.max_sessions_per_caller == null ? true : var.max_sessions_per_caller >= 1
    error_message = "max_sessions_per_caller must be at least 1 (or null)."
  }
}

variable "max_streams_per_session" {
  description = "MCP_EDGE_MAX_STREAMS_PER_SESSION: most GET streams one session may hold open at once, or null for no limit."
  type        = number
  default     = null
  validation {
    condition     = var.max_streams_per_session == null ? true : var.max_streams_per_session >= 1
    error_message = "max_streams_per_session must be at least 1 (or null)."
  }
}

variable "bridge_url" {
  description = "MCP_EDGE_BRIDGE_URL: base URL of an mcp-edge stdio bridge whose tools are offered too (as server__tool), or empty."
  type        = string
  default     = ""
}

variable "bridge_secret" {
  description = "MCP_EDGE_BRIDGE_SECRET: shared secret sent to the bridge as its API key."
  type        = string
  default     = ""
  sensitive   = true
}

variable "bridge_servers" {
  description = "MCP_EDGE_BRIDGE_SERVERS: only these bridged servers (all when empty)."
  type        = list(string)
  default     = []
}

variable "bridge_refresh" {
  description = "MCP_EDGE_BRIDGE_REFRESH: how long the bridge's tool list is cached."
  type        = string
  default     = "60s"
}

variable "tool_timeout" {
  description = "MCP_EDGE_TOOL_TIMEOUT: longest a tool call may run."
  type        = string
  default     = "30s"
}

variable "health_budget" {
  description = "MCP_EDGE_HEALTH_BUDGET: longest /health?deep=1 (and /ready) waits for its probes."
  type        = string
  default     = "2s"
}

variable "read_only" {
  description = "MCP_EDGE_READ_ONLY: offer only read-only tools."
  type        = bool
  default     = false
}

variable "connectors" {
  description = "MCP_EDGE_CONNECTORS: any of jira, confluence, gitlab, or none."
  type        = list(string)
  default     = ["jira", "confluence", "gitlab"]
}

variable "toolsets" {
  description = "MCP_EDGE_TOOLSETS: connector toolsets offered (jira, jira_details, jira_agile, confluence, confluence_details, gitlab, gitlab_ci, gitlab_mr, gitlab_repo, gitlab_project, gitlab_wiki, cross, or all)."
  type        = list(string)
  default     = ["jira", "confluence", "gitlab", "cross"]
}

variable "max_batch" {
  description = "MCP_EDGE_MAX_BATCH: most messages in one JSON-RPC batch."
  type        = number
  default     = 100
}

variable "dynamic_urls" {
  description = "MCP_EDGE_DYNAMIC_URLS: services whose upstream URL may come from a request header (jira, confluence, gitlab; [\"none\"] for none); the others use only the URL in extra_environment."
  type        = list(string)
  default     = ["jira", "confluence", "gitlab"]
}

variable "upstream_ca_files" {
  description = "MCP_EDGE_UPSTREAM_CA_FILE: extra trusted CA certificates (PEM file paths in the package or a layer, e.g. /opt/corp-ca.pem) for upstream TLS."
  type        = list(string)
  default     = []
}

variable "upstream_allowlist" {
  description = "MCP_EDGE_UPSTREAM_ALLOWLIST: only these upstream hosts may be reached (any public host when empty)."
  type        = list(string)
  default     = []
}

variable "upstream_allow_http" {
  description = "MCP_EDGE_UPSTREAM_ALLOW_HTTP: upstream hosts that may be reached over plain http."
  type        = list(string)
  default     = []
}

variable "upstream_allow_private" {
  description = "MCP_EDGE_UPSTREAM_ALLOW_PRIVATE: upstream hosts that may resolve to private addresses (in a VPC)."
  type        = list(string)
  default     = []
}

variable "upstream_pool_size" {
  description = "MCP_EDGE_UPSTREAM_POOL_SIZE: most pooled upstream clients per execution environment."
  type        = number
  default     = 100
}

variable "upstream_pool_idle" {
  description = "MCP_EDGE_UPSTREAM_POOL_IDLE: idle time after which a pooled upstream client is dropped."
  type        = string
  default     = "5m"
}

variable "upstream_timeout" {
  description = "MCP_EDGE_UPSTREAM_TIMEOUT: longest one upstream call may take."
  type        = string
  default     = "30s"
}

variable "upstream_retries" {
  description = "MCP_EDGE_UPSTREAM_RETRIES: retries after upstream 429/502/503/504."
  type        = number
  default     = 2
}

variable "fingerprint_key" {
  description = "MCP_EDGE_FINGERPRINT_KEY: key of the credential fingerprints kept in sessions (a long random string)."
  type        = string
  sensitive   = true
}

variable "extra_environment" {
  description = "Further environment variables (e.g. JIRA_URL and JIRA_API_TOKEN fallbacks)."
  type        = map(string)
  default     = {}
  sensitive   = true
}
