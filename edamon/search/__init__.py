"""Find a flow from the past (issue 16): search a time range of Kafka by correlation id, event
id, aggregate id or key, header or JSON path, and build the flows found as chains.

    query = build_query("correlation_id", cid, from_ms)        # edamon.search.query
    search = Search(broker, settings, query)
    doc = await search.run()                                   # SearchDoc (edamon.model.search)

Uses only the broker, the decoders and the model; the service (`/v1/searches`) and the CLI
(`edamon find`) drive it.
"""

from edamon.search.engine import Search
from edamon.search.query import SearchError, build_query, parse_json_path, resolve_range

__all__ = ["Search", "SearchError", "build_query", "parse_json_path", "resolve_range"]
