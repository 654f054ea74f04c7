# mcp-edge on AWS Lambda: the `bootstrap` binary behind a Function URL (response streaming), sessions
# in DynamoDB (on demand, TTL on expires_at, point-in-time recovery, encrypted), least-privilege IAM.

locals {
  oauth = var.oauth == null ? {} : {
    MCP_EDGE_OAUTH_ISSUER                = var.oauth.issuer
    MCP_EDGE_OAUTH_AUDIENCE              = var.oauth.audience
    MCP_EDGE_OAUTH_JWKS_URI              = var.oauth.jwks_uri
    MCP_EDGE_OAUTH_AUTHORIZATION_SERVERS = join(",", var.oauth.authorization_servers)
    MCP_EDGE_OAUTH_READ_SCOPE            = var.oauth.read_scope
    MCP_EDGE_OAUTH_WRITE_SCOPE           = var.oauth.write_scope
  }
  environment = merge(
    {
      MCP_EDGE_DYNAMODB_TABLE          = aws_dynamodb_table.sessions.name
      MCP_EDGE_LAMBDA_INVOKE_MODE      = var.invoke_mode
      MCP_EDGE_LOG_LEVEL               = var.log_level
      MCP_EDGE_SESSION_TTL             = var.session_ttl
      MCP_EDGE_LIST_TTL                = var.list_ttl
      MCP_EDGE_TASK_TTL                = var.task_ttl
      MCP_EDGE_GITLAB_PIPELINE_POLL    = var.gitlab_pipeline_poll
      MCP_EDGE_KEEPALIVE               = var.keepalive
      MCP_EDGE_LEGACY_POLL             = var.legacy_poll
      MCP_EDGE_MAX_BODY_BYTES          = tostring(var.max_body_bytes)
      MCP_EDGE_ALLOWED_ORIGINS         = join(",", var.allowed_origins)
      MCP_EDGE_ALLOWED_HOSTS           = join(",", var.allowed_hosts)
      MCP_EDGE_API_KEYS                = join(";", var.api_keys)
      MCP_EDGE_RATE_LIMIT              = var.rate_limit
      MCP_EDGE_TOOL_RATE_LIMIT         = var.tool_rate_limit
      MCP_EDGE_TOOL_TIMEOUT            = var.tool_timeout
      MCP_EDGE_BRIDGE_URL              = var.bridge_url
      MCP_EDGE_BRIDGE_SECRET           = var.bridge_secret
      MCP_EDGE_BRIDGE_SERVERS          = join(",", var.bridge_servers)
      MCP_EDGE_BRIDGE_REFRESH          = var.bridge_refresh
      MCP_EDGE_MAX_SESSIONS_PER_CALLER = var.max_sessions_per_caller == null ? "" : tostring(var.max_sessions_per_caller)
      MCP_EDGE_MAX_STREAMS_PER_SESSION = var.max_streams_per_session == null ? "" : tostring(var.max_streams_per_session)
      MCP_EDGE_READ_ONLY               = tostring(var.read_only)
      MCP_EDGE_CONNECTORS              = join(",", var.connectors)
      MCP_EDGE_TOOLSETS                = join(",", var.toolsets)
      MCP_EDGE_DYNAMIC_URLS            = join(",", var.dynamic_urls)
      MCP_EDGE_MAX_BATCH               = tostring(var.max_batch)
      MCP_EDGE_HEALTH_BUDGET           = var.health_budget
      MCP_EDGE_UPSTREAM_CA_FILE        = join(",", var.upstream_ca_files)
      MCP_EDGE_UPSTREAM_ALLOWLIST      = join(",", var.upstream_allowlist)
      MCP_EDGE_UPSTREAM_ALLOW_HTTP     = join(",", var.upstream_allow_http)
      MCP_EDGE_UPSTREAM_ALLOW_PRIVATE  = join(",", var.upstream_allow_private)
      MCP_EDGE_UPSTREAM_POOL_SIZE      = tostring(var.upstream_pool_size)
      MCP_EDGE_UPSTREAM_POOL_IDLE      = var.upstream_pool_idle
      MCP_EDGE_UPSTREAM_TIMEOUT        = var.upstream_timeout
      MCP_EDGE_UPSTREAM_RETRIES        = tostring(var.upstream_retries)
      MCP_EDGE_FINGERPRINT_KEY         = var.fingerprint_key
      MCP_EDGE_RESOURCE_URL            = var.resource_url
      MCP_EDGE_SSE_RESPONSES           = tostring(var.sse_responses)
    },
    local.oauth,
    var.extra_environment,
  )
}

resource "aws_dynamodb_table" "sessions" {
  #checkov:skip=CKV_AWS_119:encrypted at rest with the AWS owned key; a customer managed key is an operator choice
  name         = "${var.name}-sessions"
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "session_id"

  attribute {
    name = "session_id"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled = true
  }
}

resource "aws_cloudwatch_log_group" "gateway" {
  #checkov:skip=CKV_AWS_158:logs hold no secrets (the gateway never logs credentials or tool arguments)
  #checkov:skip=CKV_AWS_338:retention is the operator's log_retention_days (default 30)
  name              = "/aws/lambda/${var.name}"
  retention_in_days = var.log_retention_days
}

data "aws_iam_policy_document" "assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "gateway" {
  name               = "${var.name}-lambda"
  assume_role_policy = data.aws_iam_policy_document.assume.json
}

# Only the table's item operations the store uses, and writing its own log group.
data "aws_iam_policy_document" "access" {
  statement {
    sid       = "SessionItems"
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"]
    resources = [aws_dynamodb_table.sessions.arn]
  }
  statement {
    sid       = "Logs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.gateway.arn}:*"]
  }
}

resource "aws_iam_role_policy" "access" {
  name   = "${var.name}-access"
  role   = aws_iam_role.gateway.id
  policy = data.aws_iam_policy_document.access.json
}

resource "aws_lambda_function" "gateway" {
  #checkov:skip=CKV_AWS_116:invoked synchronously through the Function URL; a dead-letter queue applies to async invocations only
  #checkov:skip=CKV_AWS_117:reaches public SaaS APIs (Jira, Confluence, GitLab); a VPC would only add a NAT gateway
  #checkov:skip=CKV_AWS_272:code signing needs an operator-owned signing profile
  #checkov:skip=CKV_AWS_173:environment encrypted with the AWS managed key; secrets are hashes (API keys) or the fingerprint key
  #checkov:skip=CKV_AWS_50:X-Ray tracing is an operator choice (it needs xray:PutTraceSegments on *)
  function_name    = var.name
  role             = aws_iam_role.gateway.arn
  runtime          = "provided.al2023"
  handler          = "bootstrap"
  architectures    = [var.architecture]
  filename         = var.package_zip
  source_code_hash = filebase64sha256(var.package_zip)
  memory_size      = var.memory_mb
  timeout          = var.timeout_seconds

  reserved_concurrent_executions = var.reserved_concurrency

  environment {
    variables = local.environment
  }

  logging_config {
    log_format = "JSON"
    log_group  = aws_cloudwatch_log_group.gateway.name
  }

  depends_on = [aws_iam_role_policy.access]
}

resource "aws_lambda_function_url" "gateway" {
  #checkov:skip=CKV_AWS_258:NONE by default on purpose: callers authenticate to the gateway (API keys or OAuth); AWS_IAM is selectable
  function_name      = aws_lambda_function.gateway.function_name
  authorization_type = var.function_url_auth
  invoke_mode        = var.invoke_mode
}
