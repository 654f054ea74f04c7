output "endpoint_url" {
  description = "The MCP endpoint (Streamable HTTP); /sse, /health and /metrics sit beside it."
  value       = "${trimsuffix(aws_lambda_function_url.gateway.function_url, "/")}/mcp"
}

output "function_url" {
  description = "The Function URL."
  value       = aws_lambda_function_url.gateway.function_url
}

output "sessions_table" {
  description = "The DynamoDB table holding sessions."
  value       = aws_dynamodb_table.sessions.name
}
