"""Drives the Open311 facade with `georeport` (PyPI), an Open311 GeoReport v2 client this project
did not write, used unchanged: services, a service definition, reading requests back, in JSON and
XML. `georeport` has no call that creates requests, so the POST is the specification's plain form
post, made with `requests`.

Usage: OPEN311_BASE=http://127.0.0.1:8080/open311/v2 OPEN311_API_KEY=<client_id>:<client_secret> \
       python georeport_drive.py   (after `pip install georeport==0.3.1` and `hotline demo`)
"""

import os
import sys

import requests
import xmltodict
from georeport import GeoReport

BASE = os.environ["OPEN311_BASE"]
KEY = os.environ["OPEN311_API_KEY"]
SECRETS = ("张三", "13812345678", "路口傍晚占道经营")

for fmt in ("json", "xml"):
    client = GeoReport(BASE, jurisdiction="demo", api_key=KEY, output_format=fmt)
    services = client.get_service_list()
    codes = [s["service_code"] for s in services]
    assert "010101" in codes, codes
    definition = client.get_service_definition("010101")
    assert definition["service_code"] == "010101", definition

    posted = requests.post(
        f"{BASE}/requests.{fmt}",
        data={
            "api_key": KEY,
            "service_code": "010101",
            "lat": "39.9163",
            "long": "116.3971",
            "description": SECRETS[2],
            "first_name": "三",
            "last_name": "张",
            "phone": SECRETS[1],
            "device_id": f"georeport-drive-{fmt}",
        },
        timeout=10,
    )
    assert posted.status_code == 201, (posted.status_code, posted.text)
    if fmt == "json":
        request_id = posted.json()[0]["service_request_id"]
    else:
        request_id = xmltodict.parse(posted.content)["service_requests"]["request"][
            "service_request_id"
        ]

    read = client.get_service_request(request_id)
    assert read["service_request_id"] == request_id, read
    assert read["service_code"] == "010101" and read["status"] == "open", read
    listed = client.get_service_requests(service_request_id=request_id)
    listed = listed if isinstance(listed, list) else [listed]
    assert [r["service_request_id"] for r in listed] == [request_id], listed
    shown = str(read) + str(listed)
    for secret in SECRETS:
        assert secret not in shown, f"{secret} shown by a GET"
    print(f"{fmt}: {len(services)} services, request {request_id} posted and read back")

sys.exit(0)
