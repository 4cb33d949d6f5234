// The portal home's live part: each payment received (收款到账) shows at once, with an
// optional sound, and the day's figures are redrawn by the server as payments land
// (server-sent events from /portal/feed). Without this script the page shows the
// figures as of its loading.
(function () {
  "use strict";
  var list = document.getElementById("received-rows");
  var state = document.getElementById("feed-state");
  var notice = document.getElementById("received-notice");
  var figures = document.getElementById("figures");
  var sound = document.getElementById("sound");
  if (!list || !state || !notice || !figures || !window.EventSource) return;
  var keep = parseInt(list.getAttribute("data-keep"), 10) || 8;
  var KEY = "tillpoint.portal.sound";

  // The sound is off until the person turns it on (browsers allow sound only after a
  // click); the choice is kept in this browser.
  var soundOn = false;
  var audio = null;
  function showSound() {
    sound.setAttribute("aria-pressed", soundOn ? "true" : "false");
    sound.textContent = sound.getAttribute(soundOn ? "data-on" : "data-off");
  }
  if (sound) {
    sound.hidden = false;
    try { soundOn = window.localStorage.getItem(KEY) === "on"; } catch (e) { soundOn = false; }
    showSound();
    sound.addEventListener("click", function () {
      soundOn = !soundOn;
      try { window.localStorage.setItem(KEY, soundOn ? "on" : "off"); } catch (e) { /* private mode */ }
      showSound();
      if (soundOn) chime();
    });
  }
  function chime() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    audio = audio || new Context();
    [880, 1320].forEach(function (pitch, i) {
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      var start = audio.currentTime + i * 0.18;
      osc.frequency.value = pitch;
      gain.gain.setValueAtTime(0.2, start);
      gain.gain.exponentialRampToValueAtTime(0.001, start + 0.3);
      osc.connect(gain).connect(audio.destination);
      osc.start(start);
      osc.stop(start + 0.3);
    });
  }
  function speak(text) {
    if (!window.speechSynthesis || !window.SpeechSynthesisUtterance) return;
    var words = new window.SpeechSynthesisUtterance(text);
    words.lang = sound.getAttribute("data-lang") || "zh-CN";
    window.speechSynthesis.speak(words);
  }

  var source = new EventSource(list.getAttribute("data-stream"));
  source.addEventListener("open", function () {
    state.textContent = state.getAttribute("data-live");
  });
  source.addEventListener("error", function () {
    state.textContent = state.getAttribute("data-lost");
  });
  source.addEventListener("received", function (event) {
    var message = JSON.parse(event.data);
    notice.textContent = message.notice;
    notice.classList.remove("fresh");
    void notice.offsetWidth; // restart the highlight
    notice.classList.add("fresh");
    var holder = document.createElement("ul");
    holder.innerHTML = message.row; // the server's own markup, escaped there
    var row = holder.querySelector("li");
    if (row && !list.querySelector('li[data-payment="' + String(Number(message.payment)) + '"]')) {
      list.insertBefore(row, list.firstChild);
      while (list.children.length > keep) list.removeChild(list.lastElementChild);
    }
    var empty = document.getElementById("received-empty");
    if (empty) empty.remove();
    if (soundOn) {
      chime();
      speak(message.speech);
    }
  });
  source.addEventListener("figures", function (event) {
    figures.innerHTML = JSON.parse(event.data).html; // the server's own markup
  });
})();
