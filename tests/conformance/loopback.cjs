// Preloaded (`node --require`) into a test server that listens on every interface by default, so it
// listens on 127.0.0.1 only: a port given without a host gets the loopback host.
"use strict";
const net = require("node:net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if ((typeof args[0] === "number" || (typeof args[0] === "string" && /^\d+$/.test(args[0]))) && typeof args[1] !== "string") {
    args.splice(1, 0, "127.0.0.1");
  }
  return listen.apply(this, args);
};
