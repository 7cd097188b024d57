// mini-web demo script: no dependencies, no network requests.
(function () {
  "use strict";

  function setText(id, text) {
    var el = document.getElementById(id);
    if (el) {
      el.textContent = text;
    }
  }

  function countLoadedImages() {
    var imgs = document.images;
    var loaded = 0;
    for (var i = 0; i < imgs.length; i++) {
      if (imgs[i].complete && imgs[i].naturalWidth > 0) {
        loaded++;
      }
    }
    setText("load-count", String(loaded));
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.body.dataset.scriptRan = "yes";
    setText("served-at", "JavaScript ran at " + new Date().toLocaleTimeString());

    if (document.readyState === "complete") {
      countLoadedImages();
    } else {
      window.addEventListener("load", countLoadedImages);
    }
  });
})();
