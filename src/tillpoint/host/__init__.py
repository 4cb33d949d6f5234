"""The terminal host: the TCP server terminals connect to (an adapter, beside the REST
API and the browser pages). It frames and decodes the profile's messages with
``tillpoint.iso8583`` and hands each to the payment services."""
