"""What the `nango` object of an action offers whatever runs it: the platform
(`executions/context.py`, with the connection's credentials) or a test replaying what a
dry run recorded (`nango/testing.py`). Both implement `proxy()` and the connection
methods; the verbs and pagination are built on `proxy()` here, once."""

from collections.abc import Iterator
from urllib.parse import urlsplit

import requests

from nango.errors import ActionError
from nango.response import Response


def dig(data: object, path: str) -> object:
    """The value at a dotted path ("team.id", "items.0.id") of parsed JSON, or None: what
    pagination reads of a page, and the platform of a provider's token answer."""
    for part in [p for p in path.split(".") if p]:
        if isinstance(data, dict):
            data = data.get(part)
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return None
    return data


class NangoBase:
    """Provider calls through `proxy()`; every method works with or without `await`, so
    `exec` may be `def` or `async def`."""

    ActionError = ActionError
    connection_id: str
    provider_config_key: str
    provider: str

    def proxy(
        self,
        endpoint: str = "",
        method: str = "GET",
        params: dict | str | None = None,
        data: object = None,
        headers: dict | None = None,
        retries: int = 0,
        retry_on: list[int] | None = None,
        base_url_override: str = "",
    ) -> Response:
        raise NotImplementedError

    def get(self, endpoint: str = "", **kwargs) -> Response:
        return self.proxy(endpoint, method="GET", **kwargs)

    def post(self, endpoint: str = "", **kwargs) -> Response:
        return self.proxy(endpoint, method="POST", **kwargs)

    def put(self, endpoint: str = "", **kwargs) -> Response:
        return self.proxy(endpoint, method="PUT", **kwargs)

    def patch(self, endpoint: str = "", **kwargs) -> Response:
        return self.proxy(endpoint, method="PATCH", **kwargs)

    def delete(self, endpoint: str = "", **kwargs) -> Response:
        return self.proxy(endpoint, method="DELETE", **kwargs)

    def paginate_preset(self) -> dict | None:
        """The provider's pagination settings, which `paginate=` overrides field by field."""
        return None

    def paginate(self, endpoint: str = "", paginate: dict | None = None, **kwargs) -> "Pages":
        """Iterate pages (lists of records): `for page in nango.paginate(...)`."""
        config = {**(self.paginate_preset() or {}), **(paginate or {})}
        if config.get("type") not in ("cursor", "link", "offset"):
            raise ActionError(
                {"message": "paginate needs a type (cursor, link or offset) for this provider"}
            )
        return Pages(self, endpoint, config, kwargs)


class Pages:
    """Pages of a paginated endpoint; iterate with `for` or `async for`."""

    def __init__(self, nango: NangoBase, endpoint: str, config: dict, kwargs: dict):
        self.nango, self.endpoint, self.config, self.kwargs = nango, endpoint, config, kwargs

    def __aiter__(self):
        return self._async_pages()

    async def _async_pages(self):
        for page in self:
            yield page

    def __iter__(self) -> Iterator[list]:
        config, kwargs = self.config, dict(self.kwargs)
        method = kwargs.pop("method", "GET").upper()
        in_body = config.get("in_body", method in ("POST", "PUT", "PATCH"))
        key = "data" if in_body else "params"
        values = dict(kwargs.pop(key, None) or {})
        endpoint = self.endpoint
        limit = config.get("limit")
        if limit and config.get("limit_name_in_request"):
            values[config["limit_name_in_request"]] = limit
        kind = config["type"]
        offset = config.get("offset_start_value", 0)
        if kind == "offset":
            values[config["offset_name_in_request"]] = offset
        seen_links = set()
        while True:
            response = self.nango.proxy(endpoint, method=method, **{key: values}, **kwargs)
            page = dig(response.data, config.get("response_path", ""))
            if not isinstance(page, list):
                page = [] if page is None else [page]
            if page:
                yield page
            if not page:
                return
            if kind == "cursor":
                cursor = dig(response.data, config["cursor_path_in_response"])
                if not cursor:
                    return
                values[config["cursor_name_in_request"]] = cursor
            elif kind == "link":
                link = self._next_link(response)
                if not link or link in seen_links:
                    return
                seen_links.add(link)
                parts = urlsplit(link)
                if parts.scheme:
                    kwargs["base_url_override"] = f"{parts.scheme}://{parts.netloc}"
                endpoint = parts.path + (f"?{parts.query}" if parts.query else "")
                # The next link carries every parameter already.
                values = {}
            else:
                if limit and len(page) < limit:
                    return
                per_page = config.get("offset_calculation_method") == "per-page"
                offset += 1 if per_page else len(page)
                values[config["offset_name_in_request"]] = offset

    def _next_link(self, response: Response) -> str:
        if self.config.get("link_path_in_response_body"):
            link = dig(response.data, self.config["link_path_in_response_body"])
            return link if isinstance(link, str) else ""
        rel = self.config.get("link_rel_in_response_header", "next")
        header = response.headers.get("link", "")
        for link in requests.utils.parse_header_links(header) if header else []:
            if link.get("rel") == rel:
                return link.get("url", "")
        return ""
