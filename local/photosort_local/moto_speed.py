"""Speed and memory adapters for moto, for ``photosort local sort`` (thousands of executions in one process).

Each one changes how fast moto answers, not what it answers: the same requests get the same responses and
the same errors, so nothing a client (or AWS) would see differs. Each has a test in
``tests/local/test_moto_speed.py`` that compares the patched answer with moto's own.

13. DynamoDB Query on a table's own key (no index) reads only the queried partition. moto builds the list of
    every item of the table and sorts all of it (comparing ``DynamoType`` objects, which re-cast their value
    at every comparison) for every Query, then keeps the items whose hash key matches and sorts those by range
    key. The items of one partition are exactly ``table.items[hash_key]``, and moto sorts them by range key
    itself afterwards, so the result is the same; the cost is O(partition) instead of O(table log table).
    Queries on an index, and Scan, are unchanged.
14. moto's S3 backend re-imports (``importlib.reload``) its URL module on every request, because the URL
    patterns depend on ``MOTO_S3_CUSTOM_ENDPOINTS``. Here the module is reloaded only when that variable
    changed since the last reload.
15. moto rebuilds a backend's URL table (every URL pattern x every URL base) on every request. Here it is
    built once per backend class and URL bases (and the ISO-regions setting it also depends on).

16. moto keeps a strong reference to every model object it ever created (every S3 key with its bytes, every
    DynamoDB item, including the copies each Query and Scan makes) in a per-class list that only its dashboard
    and its reset read; a deleted object is never freed. Here the list holds weak references: it still yields
    every object that is alive (so reset and the dashboard see the same live objects), and a deleted object's
    memory is freed once nothing else refers to it. moto warns ("S3 key was not disposed of in time") when an
    S3 key it did not close is freed; that warning is silenced, as freeing it is the point.
17. moto's Step Functions engine adds every thread it starts (one per execution and more per state) to a
    module-level list it never empties (LocalStack, where the engine comes from, clears it at shutdown).
    Finished threads are dropped from it when an execution ends.
18. The engine parses every JSONPath (``InputPath``, ``ResultPath``, ``$.x`` parameters...) at every use, and
    jsonpath-ng builds a new parser for each parse. Parsed paths are immutable trees: here each distinct path
    string is parsed once (an LRU cache of 1,024 paths).

19. moto serialises every response through botocore's shape model, finding each member of each structure with
    an attribute picker that tries up to six aliases of its name (``S``, ``s``, ``ListAttributeValue``...) on
    the value. A DynamoDB item is a tree of ``AttributeValue`` structures of ten members each, already in
    their wire form (``{"N": "0.5"}``), so an item holding a list of 512 numbers costs some 50,000 alias
    lookups: most of the time of a GetItem of an image record. Here an ``AttributeValue`` that is a dict
    whose keys are all member names takes each member by its name; a key absent from such a dict cannot be
    found under an alias either (no alias of one member is another member's name, and the dict has no other
    keys), so the picked values, and what moto serialises from them, are the same. Anything else goes
    through moto's picker.

20. moto parses every CloudFormation template body with PyYAML's pure-Python loader (a template in JSON too:
    JSON is YAML), which takes a quarter of a second for the stack's 96 KB template. Here the same loader
    classes run on libyaml's parser (``yaml.CLoader``: the same constructors and resolver, with moto's tag
    constructor), where PyYAML was built with it; a body that is neither YAML nor JSON fails the same way.

21. moto lists a response class's methods (``inspect.getmembers``, which sorts every attribute of the class and
    its bases) on every request, to see whether the action has a handler method. Here the list is kept per
    class, and made again when any class in its MRO gains or loses an attribute.
22. botocore builds each request's User-Agent header from scratch, replacing each disallowed character of each
    component one character at a time (``sanitize_user_agent_string_component``, a pure function of its two
    arguments): some 20,000 calls of a generator per photo. Here its results are cached (an LRU cache of
    1,024 components: the components are the SDK's, Python's and the OS's names and versions, and the feature
    ids, a small fixed set).
23. moto parses a DynamoDB ``UpdateExpression`` twice per UpdateItem (once to check the names and values it
    uses, once to run it), tokenising and building its tree each time: a tenth of the local sort's CPU went
    to the one UpdateItem that claims a photo's bytes. The tree is a pure function of the expression's text,
    and nothing changes the parsed tree: moto's validator works on a deep copy of it. Here each distinct
    expression is parsed once (an LRU cache of 256); an expression that does not parse raises as before, at
    every use.
24. botocore signs every request with SigV4 (through awscrt: a canonical request, a chain of HMACs, the
    request copied into CRT's structures and back): a twentieth of the local sort's CPU, for a signature
    that nothing checks. AWS checks it (a wrong one fails with ``SignatureDoesNotMatch``); moto does not,
    unless its IAM access control is switched on (``INITIAL_NO_AUTH_ACTION_COUNT``), and the embedded
    stack's keys are fake. Here, while moto's mock answers in this process and its access control is off,
    a request to an AWS endpoint gets the headers SigV4 would add (``X-Amz-Date``, ``X-Amz-Security-Token``,
    ``X-Amz-Content-SHA256`` with the same payload hash, and an ``Authorization`` header with the same
    credential scope and signed-header list, which is what moto reads: the access key, hence the account,
    and the region) with a signature of zeros. Presigned URLs, SigV4a, a real endpoint (moto's server, say),
    and moto with access control on are signed as before; so is everything when awscrt is not installed.
25. The engine invokes each Lambda task through a boto3 client: the request is built, serialised and signed,
    moto rebuilds it as an HTTP request, routes it to its Lambda responder, and the response is serialised
    and parsed back (a tenth of the local sort's Python time, for three invocations per photo). On AWS this
    is Step Functions' own call to Lambda, which no user sees. Here, while moto's mock answers in this
    process, a plain synchronous invocation (``FunctionName``, ``Payload``, ``Qualifier``: what a Task state
    on a function's ARN sends) goes to moto's Lambda backend directly, and gets what the client would have
    returned: ``StatusCode`` 200, ``FunctionError`` when the function failed, the payload (replaced by
    Lambda's ``Function.ResponseSizeTooLarge`` error past 6 MB, as moto's responder does), and a moto error
    (an unknown function, a throttle) raised as a ``ClientError`` with the same code and message, which is
    what the engine reads of it (the client's own error also says "reached max retries: 0" of a throttle,
    and is of the modeled subclass). The engine's client does not retry (``total_max_attempts`` 1), so
    neither does this. Any other invocation goes through the client as before.

:func:`install` applies them once per process (pinned to moto's version like every adapter).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import threading
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from photosort_local.moto_pin import patch_once

_partition = threading.local()  # set by the Query adapter for the duration of one Query, in its own thread


@patch_once("photosort's moto speed adapters")
def install() -> None:
    _patch_query_partition()
    _patch_s3_url_module()
    _patch_backend_urls()
    _patch_weak_instance_tracking()
    _patch_engine_threads()
    _patch_jsonpath_cache()
    _patch_attribute_value_serializer()
    _patch_template_parser()
    _patch_method_names()
    _patch_user_agent_components()
    _patch_update_expression_cache()
    _patch_unchecked_signatures()
    _patch_direct_lambda_tasks()


# 13 --------------------------------------------------------------------------------------------------------
def partition_items(table: Any, hash_key: Any) -> list[Any]:
    """The items stored under one hash key (what ``all_items`` holds with that hash key, in any order)."""
    stored = table.items.get(hash_key)
    if stored is None:
        return []
    return list(stored.values()) if table.range_key_attr else [stored]


def _patch_query_partition() -> None:
    from moto.dynamodb.models.table import Table

    original_query = Table.query
    original_all_items = Table.all_items

    def all_items(self: Any) -> list[Any]:
        scope = getattr(_partition, "scope", None)
        if scope is not None and scope[0] is self:
            return partition_items(self, scope[1])
        return original_all_items(self)

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        # moto's signature: (hash_key, range_comparison, range_objs, limit, exclusive_start_key,
        # scan_index_forward, projection_expressions, index_name=None, ...); an index is the 8th argument.
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        if index_name or hash_key is None or getattr(_partition, "scope", None) is not None:
            return original_query(self, hash_key, *args, **kwargs)
        _partition.scope = (self, hash_key)
        try:
            return original_query(self, hash_key, *args, **kwargs)
        finally:
            _partition.scope = None

    Table.all_items = all_items
    Table.query = query


# 14 --------------------------------------------------------------------------------------------------------
S3_ENDPOINTS_ENV = "MOTO_S3_CUSTOM_ENDPOINTS"


def _patch_s3_url_module() -> None:
    from moto.s3.models import S3Backend

    lock = threading.Lock()
    loaded: dict[str, Any] = {}

    def _url_module(_self: Any) -> Any:
        import moto.s3.urls as backend_urls_module

        setting = os.environ.get(S3_ENDPOINTS_ENV, "")
        with lock:
            if loaded.get("setting") != setting or loaded.get("module") is not backend_urls_module:
                backend_urls_module = importlib.reload(backend_urls_module)
                loaded.update(setting=setting, module=backend_urls_module)
            return loaded["module"]

    S3Backend._url_module = property(_url_module)


# 15 --------------------------------------------------------------------------------------------------------
def _patch_backend_urls() -> None:
    from moto import settings
    from moto.core.base_backend import BaseBackend

    original: Callable[[Any], dict[str, Any]] = BaseBackend.urls.fget
    cache: dict[tuple[Any, ...], dict[str, Any]] = {}
    lock = threading.Lock()

    def urls(self: Any) -> dict[str, Any]:
        module = self._url_module
        key = (type(self), id(module), tuple(module.url_bases), settings.enable_iso_regions())
        with lock:
            found = cache.get(key)
        if found is None:
            found = original(self)
            with lock:
                cache[key] = found
        return found

    urls.__wrapped__ = original  # type: ignore[attr-defined]
    BaseBackend.urls = property(urls)


# 16 --------------------------------------------------------------------------------------------------------
class WeakTracked:
    """Stands in for a model class's ``instances_tracked`` list: append and iterate, over the live objects."""

    def __init__(self, items: Iterable[Any] = ()) -> None:
        self._refs: list[Any] = []
        self._strong: list[Any] = []  # objects that cannot be weakly referenced
        self._lock = threading.Lock()
        for item in items:
            self.append(item)

    def append(self, item: Any) -> None:
        try:
            ref = weakref.ref(item)
        except TypeError:
            with self._lock:
                self._strong.append(item)
            return
        with self._lock:
            if len(self._refs) >= 64 and len(self._refs) & (len(self._refs) - 1) == 0:  # at powers of two
                self._refs = [r for r in self._refs if r() is not None]
            self._refs.append(ref)

    def __iter__(self) -> Iterator[Any]:
        with self._lock:
            refs, strong = list(self._refs), list(self._strong)
        yield from strong
        for ref in refs:
            item = ref()
            if item is not None:
                yield item

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _patch_weak_instance_tracking() -> None:
    from moto.core.common_models import BaseModel

    def __new__(cls: type[Any], *_args: Any, **_kwargs: Any) -> Any:
        instance = super(BaseModel, cls).__new__(cls)
        tracked = cls.__dict__.get("instances_tracked")
        if not isinstance(tracked, WeakTracked):  # a new class, or moto's reset put a plain list back
            tracked = WeakTracked(tracked or ())
            cls.instances_tracked = tracked
        tracked.append(instance)
        return instance

    BaseModel.__new__ = __new__
    warnings.filterwarnings("ignore", message="S3 key was not disposed of in time", category=ResourceWarning)


# 17 --------------------------------------------------------------------------------------------------------
def prune_engine_threads() -> None:
    """Drop finished threads from the engine's list (in place: other modules hold the same list)."""
    from moto.stepfunctions.parser.utils import TMP_THREADS

    for thread in [t for t in TMP_THREADS if not t.is_alive()]:
        with contextlib.suppress(ValueError):  # another execution that ended at the same time removed it
            TMP_THREADS.remove(thread)


def _patch_engine_threads() -> None:
    from moto.stepfunctions.parser.backend import execution_worker

    worker_cls = execution_worker.ExecutionWorker
    original = worker_cls._execution_logic

    def _execution_logic(self: Any) -> None:
        try:
            original(self)
        finally:
            prune_engine_threads()

    worker_cls._execution_logic = _execution_logic


# 18 --------------------------------------------------------------------------------------------------------
JSONPATH_CACHE = 1024


def _patch_jsonpath_cache() -> None:
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    for module in (json_path, result_path):
        module.parse = functools.lru_cache(maxsize=JSONPATH_CACHE)(module.parse)


# 19 --------------------------------------------------------------------------------------------------------
FAST_STRUCTURES = {("dynamodb", "AttributeValue"), ("dynamodbstreams", "AttributeValue")}


def _patch_attribute_value_serializer() -> None:
    from moto.core.serialize import BaseJSONSerializer

    original = BaseJSONSerializer._serialize_type_structure

    def _serialize_type_structure(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if (
            type(value) is not dict
            or (self.service_model.service_name, shape.name) not in FAST_STRUCTURES
            or getattr(self._value_picker, "response_transformers", None)
            or not value.keys() <= shape.members.keys()
        ):
            original(self, serialized, value, shape, key)
            return
        wrapper = self.MAP_TYPE() if key else serialized
        for member_key, member_shape in shape.members.items():
            member_shape.parent = shape
            member_value = value.get(member_key)
            if member_value is not None:
                self._serialize(wrapper, member_value, member_shape, member_key)
        if key:
            self._default_serialize(serialized, wrapper, shape, key)

    _serialize_type_structure.__wrapped__ = original  # type: ignore[attr-defined]
    BaseJSONSerializer._serialize_type_structure = _serialize_type_structure


# 20 --------------------------------------------------------------------------------------------------------
def _patch_template_parser() -> None:
    import yaml

    if not hasattr(yaml, "CLoader"):
        return
    from moto.cloudformation import models
    from moto.cloudformation.utils import yaml_tag_constructor

    class TemplateLoader(yaml.CLoader):  # type: ignore[misc]
        """moto's loader (``yaml.Loader`` with its tag constructor) on libyaml's parser."""

    TemplateLoader.add_multi_constructor("", yaml_tag_constructor)
    original = models.Stack.parse_template

    def parse_template(template: str) -> dict[str, Any]:
        try:
            parsed: dict[str, Any] = yaml.load(template, Loader=TemplateLoader)  # noqa: S506 - moto's own loader
        except (yaml.parser.ParserError, yaml.scanner.ScannerError):
            parsed = json.loads(template)
        return parsed

    parse_template.__wrapped__ = original  # type: ignore[attr-defined]
    models.Stack.parse_template = staticmethod(parse_template)


# 21 --------------------------------------------------------------------------------------------------------
def _patch_method_names() -> None:
    from moto.core import responses

    original = responses.method_names_from_class
    cache: dict[type[Any], tuple[tuple[int, ...], list[str]]] = {}

    def method_names_from_class(clazz: Any) -> list[str]:
        if not isinstance(clazz, type):
            return original(clazz)
        version = tuple(len(vars(k)) for k in clazz.__mro__)
        found = cache.get(clazz)
        if found is None or found[0] != version:
            found = cache[clazz] = (version, original(clazz))
        return found[1]

    method_names_from_class.__wrapped__ = original  # type: ignore[attr-defined]
    responses.method_names_from_class = method_names_from_class


# 22 --------------------------------------------------------------------------------------------------------
USER_AGENT_CACHE = 1024


def _patch_user_agent_components() -> None:
    from botocore import useragent

    original = getattr(useragent, "sanitize_user_agent_string_component", None)
    if original is None or hasattr(original, "cache_info"):
        return
    useragent.sanitize_user_agent_string_component = functools.lru_cache(maxsize=USER_AGENT_CACHE)(original)


# 23 --------------------------------------------------------------------------------------------------------
UPDATE_EXPRESSION_CACHE = 256


def _patch_update_expression_cache() -> None:
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    original = UpdateExpressionParser.make.__func__
    parse = functools.lru_cache(maxsize=UPDATE_EXPRESSION_CACHE)(functools.partial(original, UpdateExpressionParser))

    def make(cls: type[Any], expression_str: str) -> Any:
        if cls is not UpdateExpressionParser or not isinstance(expression_str, str):
            return original(cls, expression_str)
        return parse(expression_str)

    make.cache_info = parse.cache_info  # type: ignore[attr-defined]
    UpdateExpressionParser.make = classmethod(make)


# 24 --------------------------------------------------------------------------------------------------------
UNCHECKED_SIGNATURE = "0" * 64


def signatures_are_checked() -> bool:
    """Whether a request made now would have its signature checked: by AWS (moto's mock is off) or by moto's
    own access control."""
    return not _stubber().enabled or float("inf") != _moto_settings().INITIAL_NO_AUTH_ACTION_COUNT


@functools.cache
def _stubber() -> Any:
    """moto's botocore stubber (``enabled`` while a mock is on), imported once rather than per request."""
    from moto.core.models import botocore_stubber

    return botocore_stubber


@functools.cache
def _moto_settings() -> Any:
    from moto import settings

    return settings


def _payload_hash(body: Any) -> str:
    """The SHA-256 of a request body as SigV4 hashes it (bytes, text, or a stream read and put back)."""
    import hashlib

    digest = hashlib.sha256()
    if body is None:
        pass
    elif isinstance(body, (bytes, bytearray, memoryview)):
        digest.update(body)
    elif isinstance(body, str):
        digest.update(body.encode("utf-8"))
    else:
        start = body.tell()
        for chunk in iter(lambda: body.read(1 << 20), b""):
            digest.update(chunk)
        body.seek(start)
    return digest.hexdigest()


def _patch_unchecked_signatures() -> None:
    from datetime import UTC, datetime
    from urllib.parse import urlsplit

    # botocore.auth first: botocore.crt.auth imports it, and importing them the other way round is circular
    from botocore.auth import SIGNED_HEADERS_BLACKLIST, STREAMING_UNSIGNED_PAYLOAD_TRAILER, UNSIGNED_PAYLOAD
    from botocore.exceptions import NoCredentialsError

    try:
        from botocore.crt import auth as crt_auth
    except ImportError:  # no awscrt: botocore signs in Python, unchanged
        return

    header_signers = (crt_auth.CrtSigV4Auth, crt_auth.CrtS3SigV4Auth)
    originals = {cls: cls.add_auth for cls in header_signers}

    def add_auth(self: Any, request: Any) -> None:
        host = urlsplit(request.url).hostname or ""
        if type(self) not in originals or signatures_are_checked() or not host.endswith(".amazonaws.com"):
            # a subclass (the query signers) inherits this method: it signs with its base class's own
            next(originals[c] for c in type(self).__mro__ if c in originals)(self, request)
            return
        if self.credentials is None:
            raise NoCredentialsError()
        existing_sha256 = self._get_existing_sha256(request)
        self._modify_request_before_signing(request)
        if self._is_streaming_checksum_payload(request):
            explicit: str | None = STREAMING_UNSIGNED_PAYLOAD_TRAILER
        elif self._should_sha256_sign_payload(request):
            explicit = existing_sha256 or None
        else:
            explicit = UNSIGNED_PAYLOAD
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        request.headers["X-Amz-Date"] = stamp
        if self.credentials.token:
            request.headers["X-Amz-Security-Token"] = self.credentials.token
        if self._should_add_content_sha256_header(explicit):
            request.headers["X-Amz-Content-SHA256"] = explicit or _payload_hash(request.body)
        signed = sorted(
            {name.lower() for name in request.headers if self._should_sign_header(name)}
            - {h.lower() for h in SIGNED_HEADERS_BLACKLIST}
        )
        scope = f"{stamp[:8]}/{self._region_name}/{self._service_name}/aws4_request"
        request.headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={self.credentials.access_key}/{scope}, "
            f"SignedHeaders={';'.join(signed)}, Signature={UNCHECKED_SIGNATURE}"
        )

    for cls in header_signers:
        cls.add_auth = add_auth  # type: ignore[method-assign]
    add_auth.originals = originals  # type: ignore[attr-defined]


# 25 --------------------------------------------------------------------------------------------------------
MAX_RESPONSE_SIZE = 6_000_000  # moto's responder's limit (sys.getsizeof of the payload)
DIRECT_PARAMETERS = {"FunctionName", "Payload", "Qualifier"}


def invoke_directly(parameters: dict[str, Any], region: str) -> dict[str, Any]:
    """A synchronous Invoke answered by moto's Lambda backend, returned as the boto3 client returns it."""
    import io
    import sys

    from botocore.exceptions import ClientError
    from botocore.response import StreamingBody
    from moto.awslambda.models import lambda_backends
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.core.exceptions import JsonRESTError

    name = str(parameters["FunctionName"])
    account = name.split(":")[4] if name.startswith("arn:") else DEFAULT_ACCOUNT_ID
    body = parameters.get("Payload")
    if isinstance(body, (bytes, bytearray)):
        body = bytes(body).decode("utf-8")
    headers: dict[str, Any] = {}
    try:
        payload = lambda_backends[account][region].invoke(name, parameters.get("Qualifier"), body, {}, headers)
    except JsonRESTError as exc:
        error: Any = {"Error": {"Code": exc.error_type, "Message": exc.message}}
        error["ResponseMetadata"] = {"HTTPStatusCode": exc.code}
        raise ClientError(error, "Invoke") from exc
    if payload is None:
        raise ClientError({"Error": {"Code": "404", "Message": "Not Found"}}, "Invoke")
    if sys.getsizeof(payload) > MAX_RESPONSE_SIZE:
        headers["x-amz-function-error"] = "Unhandled"
        payload = json.dumps(
            {
                "errorMessage": "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
                "errorType": "Function.ResponseSizeTooLarge",
            }
        )
    data = payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)
    response: dict[str, Any] = {"StatusCode": 200, "Payload": StreamingBody(io.BytesIO(data), len(data))}
    if "x-amz-function-error" in headers:
        response["FunctionError"] = headers["x-amz-function-error"]
    return response


def _patch_direct_lambda_tasks() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    original = lambda_eval_utils._invoke_lambda_function

    def _invoke_lambda_function(parameters: dict[str, Any], region: str, state_credentials: Any) -> Any:
        direct = _stubber().enabled and "FunctionName" in parameters and set(parameters) <= DIRECT_PARAMETERS
        if not direct:
            return original(parameters, region, state_credentials)
        response = invoke_directly(parameters, region)
        response["Payload"] = lambda_eval_utils._from_payload(response["Payload"])
        return response

    _invoke_lambda_function.__wrapped__ = original  # type: ignore[attr-defined]
    lambda_eval_utils._invoke_lambda_function = _invoke_lambda_function
