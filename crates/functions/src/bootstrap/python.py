# Sluice's runtime client for Python functions: the Lambda Runtime API loop, as AWS's
# awslambdaric runs it. Loads _HANDLER ("module.function") from LAMBDA_TASK_ROOT once, then
# answers invocations one at a time.
import importlib
import json
import os
import sys
import time
import traceback
import urllib.request

API = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime"


def post(path, body, headers=None):
    request = urllib.request.Request(API + path, data=body, method="POST", headers=headers or {})
    urllib.request.urlopen(request).read()


# Written after an invocation's output so the server knows its log is complete.
END_MARK = "\x1esluice-invocation-end\n"


def mark_end():
    for stream in (sys.stdout, sys.stderr):
        stream.write(END_MARK)
        stream.flush()


def error_document(error, kind=None):
    return json.dumps({
        "errorMessage": str(error),
        "errorType": kind or type(error).__name__,
        "stackTrace": traceback.format_tb(error.__traceback__),
    }).encode()


class LambdaContext:
    def __init__(self, headers):
        self.aws_request_id = headers["Lambda-Runtime-Aws-Request-Id"]
        self.invoked_function_arn = headers.get("Lambda-Runtime-Invoked-Function-Arn")
        self._deadline_ms = int(headers.get("Lambda-Runtime-Deadline-Ms") or 0)
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME")
        client_context = headers.get("Lambda-Runtime-Client-Context")
        self.client_context = json.loads(client_context) if client_context else None
        self.identity = None

    def get_remaining_time_in_millis(self):
        return max(0, self._deadline_ms - int(time.time() * 1000))


def main():
    sys.path.insert(0, os.environ["LAMBDA_TASK_ROOT"])
    try:
        module_name, function_name = os.environ["_HANDLER"].rsplit(".", 1)
        module = importlib.import_module(module_name.replace("/", "."))
        handler = getattr(module, function_name)
    except Exception as error:
        traceback.print_exc()
        kind = "Runtime.ImportModuleError" if isinstance(error, ImportError) else "Runtime.HandlerNotFound"
        post("/init/error", error_document(error, kind), {"Lambda-Runtime-Function-Error-Type": kind})
        sys.exit(1)
    while True:
        with urllib.request.urlopen(API + "/invocation/next") as response:
            headers = response.headers
            body = response.read()
        context = LambdaContext(headers)
        try:
            event = json.loads(body) if body else None
            result = handler(event, context)
            payload = json.dumps(result).encode()
        except Exception as error:
            traceback.print_exc()
            mark_end()
            post("/invocation/" + context.aws_request_id + "/error", error_document(error),
                 {"Lambda-Runtime-Function-Error-Type": "Unhandled"})
            continue
        mark_end()
        post("/invocation/" + context.aws_request_id + "/response", payload)


main()
