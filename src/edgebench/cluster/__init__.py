"""The fleet: edgebench's cells run on a Ray cluster whose nodes offer devices as custom resources
(`edgebench:<device>`), each device's rows streamed to one store on the host. Imported only by
`edgebench fleet` and `edgebench run --cluster`; nothing else imports ray."""
