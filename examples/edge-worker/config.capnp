# workerd configuration of the edge worker. Addresses here are defaults;
# the test (and an operator trying it) overrides them:
#   workerd serve config.capnp --socket-addr http=127.0.0.1:8787 \
#       --external-addr origin=127.0.0.1:8080
# with the ring document in the environment: ETOKEN_RING="$(etoken key export --dir keys)".
# The module paths need wasm/build.sh to have run (wasm/pkg/web).
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "edge", worker = .edge),
    (name = "origin", external = (address = "127.0.0.1:8080", http = ())),
  ],
  sockets = [
    (name = "http", address = "127.0.0.1:8787", http = (), service = "edge"),
  ],
);

const edge :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "encapsulated_token.js", esModule = embed "../../wasm/pkg/web/encapsulated_token.js"),
    (name = "encapsulated_token_bg.wasm", wasm = embed "../../wasm/pkg/web/encapsulated_token_bg.wasm"),
    (name = "cookie", commonJsModule = embed "node_modules/cookie/dist/index.js"),
  ],
  compatibilityDate = "2025-09-01",
  bindings = [
    (name = "ORIGIN", service = "origin"),
    # A secret: the ring verifies and mints alike (HMAC).
    (name = "ETOKEN_RING", fromEnvironment = "ETOKEN_RING"),
    (name = "AUDIENCE", fromEnvironment = "ETOKEN_AUDIENCE"),
    (name = "LEEWAY_SECONDS", fromEnvironment = "ETOKEN_LEEWAY_SECONDS"),
    (name = "LOGIN_PATH", text = "/login"),
  ],
);
