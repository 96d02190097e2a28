#!/usr/bin/env python3
"""Hostile input against a running hotline server: NUL characters and trailing bytes, which
schemathesis does not send (never bytes after a JSON body; NULs in strings only by rare chance).

Signs in as several demo accounts, reads the server's own /openapi.json and walks every
operation:

  * every path and query parameter gets a value holding a NUL (`abc%00def`, a lone `%00`, ...),
    the other required parameters being filled with plausible values;
  * every JSON body is built from its schema, then sent with a NUL inside each string property
    (top level and nested), with trailing bytes after the object (`{...} xx`, `{...}{...}`,
    `{...}` + NUL) and with raw NUL bytes inside the JSON text;
  * every form body (application/x-www-form-urlencoded) gets `%00` in each field;
  * the headers the server reads (Idempotency-Key, If-Match, X-Request-Id, X-Forwarded-For) get
    percent-encoded NULs and odd bytes.

Expectations: never a 5xx. A NUL or trailing bytes must be refused with 400 or 422, as
`application/problem+json` with `status` and `code`; 401/403/404/405/409/412/429 also pass (the
request was refused before the input mattered), a 2xx is a failure. For malformed JSON text
(trailing bytes, raw NUL bytes) the answer must also differ from the one the same body gets
without them: an identical 404/409/412/422 shows the bytes were ignored. Header values only must
not cause a 5xx.

Each request is sent signed in as the accounts in turn until one is not refused with 401/403.
Deterministic apart from --seed (where a NUL goes in a string, and a tag that keeps created
usernames, codes and phone numbers unique); the seed is printed first so a failure can be
replayed. Standard library only.

    python3 bench/hostile.py http://127.0.0.1:8080 [--seed N] [--client-id ID --client-secret S]

Prints one line per failure, then `hostile: N passed, M failed`; exits 1 when anything failed,
2 when it could not start (no server, no sign-in).
"""

import argparse
import http.client
import json
import os
import random
import sys
import time
import urllib.parse

DEMO_PASSWORD = "hotline-demo-2026"
# Accounts whose tokens carry the requests, tried in this order for each one.
TOKEN_ACCOUNTS = [
    "admin",
    "operator",
    "dispatcher",
    "supervisor",
    "cgj.admin",
    "cgj.staff",
    "13800138000",
]
# Used as the credentials inside sign-in bodies: its failed sign-ins (NUL in the password) may
# lock it, so no token above depends on it.
LOGIN_ACCOUNT = "dc.staff"
# Signed in afresh for every refresh/logout body, so that a refresh token accepted (or revoked)
# by a hostile request never touches the tokens above.
REFRESH_ACCOUNT = "analyst"

REFUSALS = {401, 403, 404, 405, 409, 412, 429}
# Answers that may come before the body is read (authentication, routing, rate limit): an
# identical answer to a malformed and a well-formed body proves nothing for these.
BEFORE_BODY = {401, 403, 405, 429}
TOKEN_MAX_AGE = 600  # access tokens live 15 minutes; sign in again after 10
NUL = "\u0000"
MARK = "\ue000"  # private-use character standing in for a raw NUL byte until encoding

HEADER_VALUES = [
    b"%00",
    b"abc%00def",
    b"%00abc",
    b"\xff\xfe\xfd",
    "\u4e2d\u6587\u5934".encode("utf-8"),
    b"abc\x01def",
    b"\x7f",
    b"\x00",
    b"abc\x00def",
    b"",
    b"x" * 300,
]
FORWARDED_VALUES = HEADER_VALUES + [
    b"1.2.3.4%00",
    b"1.2.3.4, %00, 10.0.0.1",
    b"::1, \xff, 127.0.0.1",
    b"999.999.999.999",
    b", , ,",
    b"2001:db8::1%00",
]


class Response:
    def __init__(self, status, headers, body, error=None):
        self.status = status
        self.headers = headers
        self.body = body
        self.error = error

    def problem(self):
        try:
            doc = json.loads(self.body)
        except ValueError:
            return None
        return doc if isinstance(doc, dict) else None

    def signature(self):
        """What identifies an answer: status, problem code and field errors."""
        doc = self.problem() or {}
        errors = doc.get("errors")
        return (self.status, doc.get("code"), json.dumps(errors, sort_keys=True))

    def georeport_error(self):
        """Whether this is an Open311 GeoReport error answer: a JSON list (or an XML `<errors>`
        document) of errors with `code` equal to the status and a `description`."""
        content_type = self.headers.get("content-type", "")
        if content_type.startswith("application/xml"):
            import xml.etree.ElementTree as ET
            try:
                root = ET.fromstring(self.body)
            except ET.ParseError:
                return False
            errors = root.findall("error")
            return root.tag == "errors" and bool(errors) and all(
                e.findtext("code") == str(self.status) and e.findtext("description") for e in errors
            )
        if not content_type.startswith("application/json"):
            return False
        try:
            doc = json.loads(self.body)
        except ValueError:
            return False
        return isinstance(doc, list) and bool(doc) and all(
            isinstance(e, dict) and e.get("code") == self.status and e.get("description") for e in doc
        )

    def snippet(self):
        if self.error:
            return self.error
        return self.body[:200].decode("utf-8", "replace").replace("\n", " ")


class Client:
    def __init__(self, base):
        url = urllib.parse.urlsplit(base)
        if url.scheme not in ("http", "https"):
            raise SystemExit(f"not an http(s) URL: {base}")
        self.https = url.scheme == "https"
        self.host = url.hostname
        self.port = url.port or (443 if self.https else 80)
        self.prefix = url.path.rstrip("/")

    def send(self, method, target, headers=(), body=None):
        """`target` is sent as written (percent-escapes included); header values may be bytes."""
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        conn = cls(self.host, self.port, timeout=60)
        try:
            conn.putrequest(method, self.prefix + target, skip_accept_encoding=True)
            for name, value in headers:
                conn.putheader(name, value)
            if body is not None:
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            response = conn.getresponse()
            data = response.read()
            return Response(
                response.status,
                {k.lower(): v for k, v in response.getheaders()},
                data,
            )
        except (OSError, http.client.HTTPException) as error:
            return Response(0, {}, b"", error=f"no answer: {error!r}")
        finally:
            conn.close()

    def json(self, method, target, doc=None, token=None):
        headers = [("Accept", "application/json")]
        body = None
        if doc is not None:
            headers.append(("Content-Type", "application/json"))
            body = json.dumps(doc).encode()
        if token:
            headers.append(("Authorization", f"Bearer {token}"))
        return self.send(method, target, headers, body)


class Sessions:
    """Access tokens of the demo accounts, renewed before they expire."""

    def __init__(self, client):
        self.client = client
        self.tokens = {}

    def sign_in(self, username):
        response = self.client.json(
            "POST",
            "/api/v1/auth/login",
            {"username": username, "password": DEMO_PASSWORD},
        )
        if response.status != 200:
            raise RuntimeError(
                f"sign-in as {username} failed: {response.status} {response.snippet()}"
            )
        return json.loads(response.body)

    def token(self, username):
        held = self.tokens.get(username)
        if held is None or time.monotonic() - held[1] > TOKEN_MAX_AGE:
            held = (self.sign_in(username)["access_token"], time.monotonic())
            self.tokens[username] = held
        return held[0]


class Schemas:
    """Plausible values from the OpenAPI schemas."""

    def __init__(self, document, tag, dynamic):
        self.components = document.get("components", {}).get("schemas", {})
        self.tag = tag
        self.counter = 0
        self.dynamic = dynamic  # (component, property) -> callable or value
        self.ids = {}  # property name -> an existing id
        self.templates = {}  # component -> a whole body read back from the server

    def resolve(self, schema):
        """Follows $ref and picks the non-null branch of oneOf/anyOf. Returns (schema, name)."""
        name = None
        seen = 0
        while isinstance(schema, dict):
            seen += 1
            if seen > 50:
                break
            if "$ref" in schema:
                name = schema["$ref"].rsplit("/", 1)[-1]
                schema = self.components.get(name, {})
                continue
            branches = schema.get("oneOf") or schema.get("anyOf")
            if branches:
                chosen = next(
                    (b for b in branches if self.kind(b) != "null"), branches[0]
                )
                schema = chosen
                continue
            if schema.get("allOf"):
                merged = {}
                for part in schema["allOf"]:
                    part, part_name = self.resolve(part)
                    name = name or part_name
                    merged.setdefault("properties", {}).update(part.get("properties", {}))
                    merged.setdefault("required", []).extend(part.get("required", []))
                    for key, value in part.items():
                        if key not in ("properties", "required"):
                            merged.setdefault(key, value)
                schema = merged
                continue
            break
        return (schema if isinstance(schema, dict) else {}), name

    @staticmethod
    def kind(schema):
        if not isinstance(schema, dict):
            return None
        if "$ref" in schema or "oneOf" in schema or "anyOf" in schema:
            return "ref"
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"]
            return kinds[0] if kinds else "null"
        if kind is None:
            if "properties" in schema:
                return "object"
            if "enum" in schema:
                return "string"
        return kind

    def unique(self):
        self.counter += 1
        return self.counter

    def string(self, schema, prop):
        fmt = schema.get("format")
        if "enum" in schema:
            return schema["enum"][0]
        if "const" in schema:
            return schema["const"]
        if prop == "phone":
            return "139%04d%04d" % (self.tag % 10000, self.unique() % 10000)
        if prop == "username":
            return f"hostile.{self.tag}.{self.unique()}"
        if prop == "code":
            return f"H{self.tag}-{self.unique()}"
        if prop in ("external_ref", "client_id", "refresh_token"):
            return f"hostile-{self.tag}-{self.unique()}"
        if fmt == "date-time":
            return "2026-12-01T09:00:00+08:00"
        if fmt == "date":
            return "2026-12-01"
        if fmt == "password":
            return "Hostile-pass-2026"
        if "example" in schema and isinstance(schema["example"], str):
            return schema["example"]
        if isinstance(schema.get("examples"), list) and schema["examples"]:
            if isinstance(schema["examples"][0], str):
                return schema["examples"][0]
        text = "hostile text"
        low = schema.get("minLength", 0)
        if len(text) < low:
            text = text + "x" * (low - len(text))
        high = schema.get("maxLength")
        if high is not None:
            text = text[:high]
        return text

    def value(self, schema, prop=None, owner=None):
        schema, name = self.resolve(schema)
        owner = name or owner
        key = (owner, prop)
        if key in self.dynamic:
            found = self.dynamic[key]
            return found() if callable(found) else found
        kind = self.kind(schema)
        if kind == "object":
            return self.object(schema, owner)
        if kind == "array":
            count = max(1, schema.get("minItems", 1))
            return [self.value(schema.get("items", {}), prop, owner) for _ in range(count)]
        if kind in ("integer", "number"):
            if prop in self.ids:
                return self.ids[prop]
            if isinstance(schema.get("example"), (int, float)):
                return schema["example"]
            low = schema.get("minimum", 1)
            high = schema.get("maximum")
            value = max(1, low)
            if high is not None:
                value = min(value, high)
            return value
        if kind == "boolean":
            return bool(schema.get("example", True))
        if kind == "null":
            return None
        return self.string(schema, prop)

    def object(self, schema, owner):
        """The required properties, and the optional ones given a value in `dynamic`."""
        properties = schema.get("properties", {})
        wanted = list(schema.get("required", []))
        wanted += [p for (o, p) in self.dynamic if o == owner and p not in wanted]
        if owner in self.templates:
            return json.loads(json.dumps(self.templates[owner]))
        return {
            prop: self.value(properties[prop], prop, owner)
            for prop in wanted
            if prop in properties
        }

    def string_paths(self, schema, path=(), owner=None, depth=0):
        """Paths (keys and list indices) to every string inside a body of this schema."""
        schema, name = self.resolve(schema)
        owner = name or owner
        kind = self.kind(schema)
        if depth > 6:
            return
        if kind == "object":
            for prop, sub in schema.get("properties", {}).items():
                yield from self.string_paths(sub, path + (prop,), owner, depth + 1)
        elif kind == "array":
            yield from self.string_paths(schema.get("items", {}), path + (0,), owner, depth + 1)
        elif kind in ("string", None) and path:
            yield path

    def leaf(self, schema, path):
        """The schema, owner and property name at `path`."""
        owner = None
        prop = None
        for step in path:
            schema, name = self.resolve(schema)
            owner = name or owner
            if isinstance(step, int):
                schema = schema.get("items", {})
            else:
                prop = step
                schema = schema.get("properties", {}).get(step, {})
        schema, name = self.resolve(schema)
        return schema, name or owner, prop

    def body_with(self, schema, path, value):
        """A plausible body with `value` at `path` (creating what leads there)."""
        body = self.value(schema)
        node, node_schema, owner = body, schema, None
        for index, step in enumerate(path):
            node_schema, name = self.resolve(node_schema)
            owner = name or owner
            last = index == len(path) - 1
            if isinstance(step, int):
                item_schema = node_schema.get("items", {})
                while len(node) <= step:
                    node.append(self.value(item_schema, None, owner))
                if last:
                    node[step] = value
                else:
                    if not isinstance(node[step], (dict, list)):
                        node[step] = self.fresh_container(item_schema)
                    node = node[step]
                node_schema = item_schema
            else:
                sub_schema = node_schema.get("properties", {}).get(step, {})
                if last:
                    node[step] = value
                else:
                    if not isinstance(node.get(step), (dict, list)):
                        node[step] = self.fresh_container(sub_schema, step, owner)
                    node = node[step]
                node_schema = sub_schema
        return body

    def fresh_container(self, schema, prop=None, owner=None):
        made = self.value(schema, prop, owner)
        if isinstance(made, (dict, list)):
            return made
        resolved, _ = self.resolve(schema)
        return [] if self.kind(resolved) == "array" else {}


def find_object(doc, required):
    """The first object inside `doc` (depth first) holding every key in `required`."""
    if isinstance(doc, dict):
        if required and required <= doc.keys():
            return doc
        children = doc.values()
    elif isinstance(doc, list):
        children = doc
    else:
        return None
    for child in children:
        found = find_object(child, required)
        if found is not None:
            return found
    return None


def nul_variants(rng, plain):
    """(label, string) pairs: NUL alone, leading, in the middle, at a random place, trailing."""
    plain = plain or "abc"
    middle = len(plain) // 2
    at = rng.randrange(0, len(plain) + 1)
    return [
        ("lone NUL", NUL),
        ("leading NUL", NUL + plain),
        ("NUL in the middle", plain[:middle] + NUL + plain[middle:]),
        (f"NUL at offset {at}", plain[:at] + NUL + plain[at:]),
        ("trailing NUL", plain + NUL),
    ]


def param_nul_variants(rng, plain):
    """(label, already-encoded query or path value) pairs."""
    plain = str(plain) if plain is not None else "abc"
    at = rng.randrange(0, len(plain) + 1)
    quoted = urllib.parse.quote
    return [
        ("abc%00def", "abc%00def"),
        ("lone %00", "%00"),
        ("%00abc", "%00abc"),
        ("abc%00", "abc%00"),
        (
            f"plausible value with %00 at offset {at}",
            quoted(plain[:at], safe="") + "%00" + quoted(plain[at:], safe=""),
        ),
    ]


class Run:
    def __init__(self, args):
        self.args = args
        self.client = Client(args.base_url)
        self.sessions = Sessions(self.client)
        self.rng = random.Random(args.seed)
        self.passed = 0
        self.failed = 0
        self.refused = 0
        self.preferred = {}  # operation -> the account that got past 401/403

    # ---- bookkeeping -------------------------------------------------------------------------

    def record(self, op, label, response, failure, account):
        if failure is None:
            self.passed += 1
            if response.status in REFUSALS:
                self.refused += 1
            if self.args.verbose:
                print(f"ok   {op[0]} {op[1]} [{account}] {label}: {response.status}", flush=True)
            return
        self.failed += 1
        print(
            f"FAIL {op[0]} {op[1]} [{account}] {label}: {failure}; "
            f"{response.status} {response.snippet()}",
            flush=True,
        )

    def judge(self, response, clean=None, syntax=False):
        """None when the answer to hostile input is acceptable, else why not."""
        status = response.status
        if status == 0:
            return "no answer"
        if status >= 500:
            return "server error"
        if 200 <= status < 300:
            return "accepted"
        if (
            syntax
            and clean is not None
            and status not in BEFORE_BODY
            and status != 400
            and response.signature() == clean.signature()
        ):
            return (
                f"the same answer as the well-formed body ({clean.status}): "
                "the malformed JSON was read as if it were valid"
            )
        if status in (400, 422):
            # The Open311 facade answers in the GeoReport format its clients parse.
            if response.georeport_error():
                return None
            content_type = response.headers.get("content-type", "")
            if not content_type.startswith("application/problem+json"):
                return f"Content-Type is {content_type!r}, not application/problem+json"
            doc = response.problem()
            if doc is None:
                return "the problem document is not a JSON object"
            if "status" not in doc or "code" not in doc:
                return "the problem document lacks status or code"
            if doc["status"] != status:
                return f"the problem says status {doc['status']}"
            return None
        if status in REFUSALS:
            return None
        return "unexpected status"

    def judge_header(self, response):
        if response.status == 0:
            return "no answer"
        if response.status >= 500:
            return "server error"
        return None

    # ---- sending -----------------------------------------------------------------------------

    def accounts_for(self, op):
        if not op[2]:  # public operation: no token
            return [None]
        first = self.preferred.get(op[:2])
        rest = [a for a in TOKEN_ACCOUNTS if a != first]
        return ([first] if first else []) + rest

    def send(self, op, target, headers, body):
        """Sends as each account until one is not refused with 401/403."""
        response, used = None, None
        for account in self.accounts_for(op):
            full = list(headers)
            if account is not None:
                full.append(("Authorization", f"Bearer {self.sessions.token(account)}"))
            response = self.client.send(op[0], target, full, body() if callable(body) else body)
            used = account
            if response.status not in (401, 403):
                if account is not None:
                    self.preferred[op[:2]] = account
                break
        return response, used or "public"

    # ---- the walk ----------------------------------------------------------------------------

    def setup(self):
        response = self.client.send("GET", "/openapi.json", [("Accept", "application/json")])
        if response.status != 200:
            raise RuntimeError(f"GET /openapi.json: {response.status} {response.snippet()}")
        self.document = json.loads(response.body)
        for account in TOKEN_ACCOUNTS:
            self.sessions.token(account)
        self.sessions.sign_in(REFRESH_ACCOUNT)
        tag = self.args.seed % 100000
        dynamic = {
            ("LoginRequest", "username"): LOGIN_ACCOUNT,
            ("LoginRequest", "password"): DEMO_PASSWORD,
            ("RefreshRequest", "refresh_token"): lambda: self.sessions.sign_in(
                REFRESH_ACCOUNT
            )["refresh_token"],
            # Centre staff must name the channel of a new case.
            ("RegisterCase", "channel"): "phone",
        }
        if self.args.client_id:
            dynamic[("ClientTokenRequest", "client_id")] = self.args.client_id
        if self.args.client_secret:
            dynamic[("ClientTokenRequest", "client_secret")] = self.args.client_secret
        self.schemas = Schemas(self.document, tag, dynamic)
        self.discover()

    def admin_get(self, target):
        response = self.client.json("GET", target, token=self.sessions.token("admin"))
        if response.status != 200:
            return None
        try:
            return json.loads(response.body)
        except ValueError:
            return None

    def first_item(self, target, key="id"):
        page = self.admin_get(target)
        items = page.get("items") if isinstance(page, dict) else page
        if isinstance(items, list) and items and isinstance(items[0], dict):
            return items[0].get(key)
        return None

    def discover(self):
        """Existing rows for path parameters and the ids that bodies refer to."""
        self.collection_ids = {}
        for path in self.document.get("paths", {}):
            parts = path.split("/")
            for index, part in enumerate(parts):
                if part == "{id}" and index > 0:
                    collection = "/".join(parts[:index])
                    if collection not in self.collection_ids:
                        self.collection_ids[collection] = self.first_item(collection) or 1
        # A user of our own for /users/{id}, so that no demo account is changed.
        created = self.client.json(
            "POST",
            "/api/v1/users",
            {
                "username": f"hostile.target.{self.args.seed % 100000}",
                "display_name": "hostile target",
                "role": "operator",
                "password": "Hostile-target-2026",
            },
            token=self.sessions.token("admin"),
        )
        if created.status == 201:
            self.collection_ids["/api/v1/users"] = json.loads(created.body)["id"]
        self.case_no = self.first_item("/api/v1/cases", "case_no") or "20260101-000001"
        ids = self.schemas.ids
        cgj = self.first_item("/api/v1/departments?q=CGJ")
        department = cgj or self.collection_ids.get("/api/v1/departments", 1)
        ids["department_id"] = department
        ids["default_department_id"] = department
        district = self.first_item("/api/v1/departments?kind=district")
        if district:
            ids["district_id"] = district
        for prop, collection in (
            ("case_id", "/api/v1/cases"),
            ("into_case_id", "/api/v1/cases"),
            ("assignment_id", "/api/v1/assignments"),
            ("category_id", "/api/v1/categories"),
        ):
            ids[prop] = self.collection_ids.get(collection, 1)
        open_assignment = self.first_item("/api/v1/assignments?state=in_progress")
        if open_assignment:
            ids["assignment_id"] = open_assignment
        staff = self.first_item("/api/v1/users?q=cgj.staff")
        if staff:
            ids["user_id"] = staff
        # A body to PUT back: what GET on the same path answers (the current calendar, the
        # current SLA policy), which is valid by construction.
        for op, spec, params in self.operations():
            schema = self.json_body_schema(spec)
            if op[0] != "PUT" or schema is None:
                continue
            resolved, name = self.schemas.resolve(schema)
            if name is None:
                continue
            current = self.admin_get(self.target(("GET",) + op[1:], params))
            found = find_object(current, set(resolved.get("required", [])))
            if found is not None:
                known = resolved.get("properties", {})
                self.schemas.templates[name] = {k: v for k, v in found.items() if k in known}

    def operations(self):
        for path, item in self.document.get("paths", {}).items():
            shared = item.get("parameters", [])
            for method, op in item.items():
                if method not in ("get", "post", "put", "patch", "delete"):
                    continue
                # Public when no security applies, or when an empty requirement allows anyone.
                requirements = op.get("security", self.document.get("security")) or []
                secured = bool(requirements) and all(requirements)
                params = {(p.get("in"), p.get("name")): p for p in shared}
                for p in op.get("parameters", []):
                    params[(p.get("in"), p.get("name"))] = p
                yield (method.upper(), path, secured), op, list(params.values())

    def param_value(self, op_path, param):
        """A plausible value for a parameter, as text (not yet percent-encoded)."""
        name = param.get("name")
        schema, _ = self.schemas.resolve(param.get("schema", {}))
        if param.get("in") == "path":
            if name == "id":
                collection = op_path.split("/{id}")[0]
                return str(self.collection_ids.get(collection, 1))
            if name == "case_no":
                return str(self.case_no)
            if name == "year":
                return "2026"  # shipped with the server: GET has a calendar to PUT back
        if "example" in param:
            return str(param["example"])
        value = self.schemas.value(schema, name)
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def target(self, op, params, override=None):
        """The request target with required parameters filled; `override` = (param, encoded)."""
        path = op[1]
        query = []
        for param in params:
            where, name = param.get("in"), param.get("name")
            if override is not None and param is override[0]:
                encoded = override[1]
            elif where == "path" or param.get("required"):
                encoded = urllib.parse.quote(self.param_value(op[1], param), safe="")
            else:
                continue
            if where == "path":
                path = path.replace("{" + name + "}", encoded)
            elif where == "query":
                query.append(f"{urllib.parse.quote(name, safe='')}={encoded}")
        return path + ("?" + "&".join(query) if query else "")

    def json_body_schema(self, op, media="application/json"):
        content = (op.get("requestBody") or {}).get("content", {})
        for key, value in content.items():
            if key.split(";")[0].strip() == media:
                return value.get("schema", {})
        return None

    def walk(self):
        for op, spec, params in self.operations():
            try:
                self.walk_operation(op, spec, params)
            except (RuntimeError, ValueError, KeyError) as error:
                # A sign-in that stopped working, an answer that is not JSON: counted, not fatal.
                self.failed += 1
                print(f"FAIL {op[0]} {op[1]}: could not finish: {error!r}", flush=True)

    def walk_operation(self, op, spec, params):
        body_schema = self.json_body_schema(spec)
        form_schema = self.json_body_schema(spec, "application/x-www-form-urlencoded")
        plain_target = self.target(op, params)
        json_headers = [("Accept", "application/json")]
        if body_schema is not None:
            json_headers.append(("Content-Type", "application/json"))

        def clean_body():
            if body_schema is None:
                return None
            return json.dumps(self.schemas.value(body_schema)).encode()

        # The well-formed request, to compare malformed bodies with; also must not be a 5xx.
        clean, account = self.send(op, plain_target, json_headers, clean_body)
        failure = self.judge_header(clean)
        self.record(op, "the well-formed request", clean, failure, account)

        if body_schema is not None:
            self.json_syntax(op, plain_target, json_headers, body_schema, clean)
            self.json_strings(op, plain_target, json_headers, body_schema)
        if form_schema is not None:
            self.form_fields(op, plain_target, form_schema)
        self.parameters(op, params, json_headers, clean_body)
        self.headers(op, spec, params, plain_target, json_headers, clean_body)

    def json_syntax(self, op, target, headers, schema, clean):
        def encoded():
            return json.dumps(self.schemas.value(schema)).encode()

        def twice():
            first = encoded()
            return first + first

        def raw_nul_in_string():
            paths = list(self.schemas.string_paths(schema))
            if not paths:
                return b'{"a\x00b": 1}'
            path = paths[0]
            leaf, _, _ = self.schemas.leaf(schema, path)
            plain = self.schemas.string(leaf, path[-1] if isinstance(path[-1], str) else None)
            text = json.dumps(
                self.schemas.body_with(schema, path, plain[:1] + MARK + plain[1:]),
                ensure_ascii=False,
            )
            return text.encode("utf-8").replace(MARK.encode("utf-8"), b"\x00")

        cases = [
            ("trailing bytes `{...} xx`", lambda: encoded() + b" xx"),
            ("trailing bytes `{...}{...}`", twice),
            ("trailing raw NUL byte `{...}\\x00`", lambda: encoded() + b"\x00"),
            ("trailing text `{...}\\u0000`", lambda: encoded() + b"\\u0000"),
            ("trailing bytes `{...},`", lambda: encoded() + b","),
            ("raw NUL byte inside a JSON string", raw_nul_in_string),
            ("raw NUL byte between JSON tokens", lambda: b"{\x00" + encoded()[1:]),
        ]
        for label, body in cases:
            response, account = self.send(op, target, headers, body)
            self.record(op, label, response, self.judge(response, clean, syntax=True), account)

    def json_strings(self, op, target, headers, schema):
        for path in self.schemas.string_paths(schema):
            leaf, owner, prop = self.schemas.leaf(schema, path)
            dynamic = self.schemas.dynamic
            saved = dynamic.get(("LoginRequest", "username"))
            if owner == "LoginRequest" and prop != "username":
                # Failed sign-ins lock a username: spend them on one that does not exist.
                dynamic[("LoginRequest", "username")] = f"hostile.nobody.{self.schemas.tag}"
            try:
                self.json_string(op, target, headers, schema, path, leaf, prop)
            finally:
                if saved is not None:
                    dynamic[("LoginRequest", "username")] = saved

    def json_string(self, op, target, headers, schema, path, leaf, prop):
        plain = self.schemas.string(leaf, prop)
        where = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in path)
        where = where.replace(".[", "[")
        for label, value in nul_variants(self.rng, plain):
            body = json.dumps(self.schemas.body_with(schema, path, value)).encode()
            response, account = self.send(op, target, headers, body)
            self.record(op, f"JSON {where}: {label}", response, self.judge(response), account)

    def form_fields(self, op, target, schema):
        headers = [
            ("Accept", "application/json"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ]
        resolved, _ = self.schemas.resolve(schema)
        for prop, sub in resolved.get("properties", {}).items():
            plain = self.schemas.string(self.schemas.resolve(sub)[0], prop)
            for label, value in nul_variants(self.rng, plain):
                fields = self.schemas.value(schema)
                fields[prop] = value
                body = urllib.parse.urlencode(fields).encode()
                response, account = self.send(op, target, headers, body)
                self.record(
                    op, f"form field {prop}: {label}", response, self.judge(response), account
                )

    def parameters(self, op, params, headers, clean_body):
        for param in params:
            if param.get("in") not in ("path", "query"):
                continue
            plain = self.param_value(op[1], param)
            for label, encoded in param_nul_variants(self.rng, plain):
                target = self.target(op, params, (param, encoded))
                response, account = self.send(op, target, headers, clean_body)
                where = f"{param['in']} parameter {param['name']}"
                self.record(op, f"{where}={label}", response, self.judge(response), account)

    def headers(self, op, spec, params, target, headers, clean_body):
        declared = {
            p.get("name", "").lower() for p in params if p.get("in") == "header"
        }
        names = ["X-Request-Id", "X-Forwarded-For"]
        if "if-match" in declared:
            names.append("If-Match")
        if "idempotency-key" in declared:
            names.append("Idempotency-Key")
        for name in names:
            values = FORWARDED_VALUES if name == "X-Forwarded-For" else HEADER_VALUES
            for value in values:
                response, account = self.send(
                    op, target, list(headers) + [(name, value)], clean_body
                )
                label = f"header {name}: {value[:40]!r}"
                self.record(op, label, response, self.judge_header(response), account)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url", help="e.g. http://127.0.0.1:8080")
    parser.add_argument("--seed", type=int, default=None, help="replay a run")
    parser.add_argument("--client-id", help="the demo integration client's id (/auth/token)")
    parser.add_argument("--client-secret", help="the demo integration client's secret")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every request")
    args = parser.parse_args()
    if args.seed is None:
        args.seed = int.from_bytes(os.urandom(4), "big")
    print(f"hostile: seed {args.seed} (replay with --seed {args.seed})", flush=True)

    run = Run(args)
    try:
        run.setup()
    except (RuntimeError, ValueError, OSError) as error:
        print(f"hostile: cannot start: {error}", file=sys.stderr)
        return 2
    run.walk()
    print(
        f"hostile: {run.refused} of the passes were refusals (401/403/404/405/409/412/429) "
        "that did not reach the input",
        flush=True,
    )
    print(f"hostile: {run.passed} passed, {run.failed} failed", flush=True)
    return 1 if run.failed else 0


if __name__ == "__main__":
    sys.exit(main())
