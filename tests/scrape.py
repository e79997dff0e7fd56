"""Reading Prometheus' text format in tests, with prometheus_client's own parser."""

from prometheus_client.parser import text_string_to_metric_families


class Scrape:
    """One /metrics answer: `scrape.value("nangosite_runs_total", outcome="failed", ...)`
    is the sample's value (0 when the series does not exist yet)."""

    def __init__(self, text: str) -> None:
        self.samples = [
            sample for family in text_string_to_metric_families(text) for sample in family.samples
        ]

    def value(self, name: str, **labels: str) -> float:
        return sum(
            s.value
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )
