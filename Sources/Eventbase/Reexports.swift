// The Eventbase module: the core and every bundled adapter in one import, and the conveniences
// that compose them (the builder's backends, the manager's initialisers) with the system clocks.
@_exported public import EventbaseCore
@_exported public import EventbaseFileStore
@_exported public import EventbaseJetStream
@_exported public import EventbaseMemory
@_exported public import EventbaseNATS
