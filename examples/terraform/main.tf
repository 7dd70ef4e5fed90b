# Terraform's AWS provider managing a Turnout server: only the endpoint differs from a configuration
# for AWS. Used as-is by tests/integration/test_terraform.py; see README, "The Lambda-compatible API".
#
#   terraform init -plugin-dir=/opt/tf-plugins   # or a plain `terraform init` with registry access
#   terraform apply -var endpoint=http://127.0.0.1:8420 -var package=hello.zip
#   # a canary: publish new code and send it 10% of the alias's traffic, version 1 keeping 90%
#   terraform apply -var endpoint=http://127.0.0.1:8420 -var package=hello-v2.zip -var stable=1

terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}

variable "endpoint" { type = string }
variable "package" { type = string }
variable "greeting" {
  type    = string
  default = "hello"
}
variable "tags" {
  type    = map(string)
  default = { team = "web", env = "test" }
}
variable "stable" {
  description = "the version the alias keeps 90% on while the newest gets 10%; empty: all on the newest"
  type        = string
  default     = ""
}

provider "aws" {
  region                      = "us-east-1"
  access_key                  = "turnout"
  secret_key                  = "turnout"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  endpoints {
    lambda = var.endpoint
  }
}

resource "aws_lambda_function" "hello" {
  function_name                  = "tf-hello"
  role                           = "arn:aws:iam::000000000000:role/turnout"
  handler                        = "app.handler"
  runtime                        = "python3.12"
  filename                       = var.package
  source_code_hash               = filebase64sha256(var.package)
  publish                        = true
  timeout                        = 5
  memory_size                    = 256
  description                    = "managed by Terraform"
  reserved_concurrent_executions = 5
  environment {
    variables = { GREETING = var.greeting }
  }
  tags = var.tags
}

resource "aws_lambda_alias" "live" {
  name             = "live"
  function_name    = aws_lambda_function.hello.function_name
  function_version = var.stable == "" ? aws_lambda_function.hello.version : var.stable
  dynamic "routing_config" {
    for_each = var.stable == "" ? [] : [1]
    content {
      additional_version_weights = { (aws_lambda_function.hello.version) = 0.1 }
    }
  }
}

resource "aws_lambda_function_url" "live" {
  function_name      = aws_lambda_function.hello.function_name
  qualifier          = aws_lambda_alias.live.name
  authorization_type = "NONE"
}

resource "aws_lambda_permission" "url" {
  statement_id           = "public-url"
  action                 = "lambda:InvokeFunctionUrl"
  function_name          = aws_lambda_function.hello.function_name
  qualifier              = aws_lambda_alias.live.name
  principal              = "*"
  function_url_auth_type = "NONE"
}

resource "aws_lambda_provisioned_concurrency_config" "live" {
  function_name                     = aws_lambda_function.hello.function_name
  qualifier                         = aws_lambda_alias.live.name
  provisioned_concurrent_executions = 1
}

resource "aws_lambda_function_event_invoke_config" "live" {
  function_name                = aws_lambda_function.hello.function_name
  qualifier                    = aws_lambda_alias.live.name
  maximum_retry_attempts       = 1
  maximum_event_age_in_seconds = 600
}

data "aws_lambda_function" "live" {
  function_name = aws_lambda_function.hello.function_name
  qualifier     = aws_lambda_alias.live.name
}

data "aws_lambda_alias" "live" {
  function_name = aws_lambda_function.hello.function_name
  name          = aws_lambda_alias.live.name
}

# invokes the newest version (the alias may split, and a changing output would show up in every plan)
data "aws_lambda_invocation" "hello" {
  function_name = aws_lambda_function.hello.function_name
  qualifier     = aws_lambda_function.hello.version
  input         = jsonencode({ source = "terraform" })
}

output "url" { value = aws_lambda_function_url.live.function_url }
output "version" { value = aws_lambda_function.hello.version }
output "alias_version" { value = data.aws_lambda_alias.live.function_version }
output "invoked" { value = data.aws_lambda_invocation.hello.result }
