// What a host of the Engram library needs, from one import.
@_exported import EngramBase
@_exported import EngramStore
@_exported import Logging
@_exported import EngramRAG
@_exported import EngramIngest
@_exported import EngramGraph
