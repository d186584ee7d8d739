"""Remote targets (edge devices driven from a host): the command lines edgebench has a device run,
and parsers for what it sends back. Imports nothing heavy; submodules are imported when used."""
